// Takes the README's screenshots of a running `eduioc demo`.
// Usage: npm install playwright-core (in any folder), then
//   node docs/screenshots/shoot.mjs <demo output file> <out dir>
// It reads the URLs and logins the demo printed, logs in as a user would and saves PNGs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(process.env.PLAYWRIGHT_FROM || import.meta.url);
const { chromium } = require('playwright-core');

const [demoOut, outDir] = process.argv.slice(2);
const lines = readFileSync(demoOut, 'utf8').split('\n');
const node = (prefix) => {
  const l = lines.find((x) => x.trim().startsWith(prefix));
  const f = l.trim().split(/\s+/);
  return { url: f[2], password: f[5] };
};

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
async function login(n) {
  await page.goto(`${n.url}/login`);
  await page.fill('input[name=user]', 'admin');
  await page.fill('input[name=password]', n.password);
  await page.click('button[type=submit]');
  await page.waitForLoadState('networkidle');
}
const dept = node('so-hn ');
await login(dept);
await page.screenshot({ path: `${outDir}/department-overview.png`, fullPage: false });
await page.goto(`${dept.url}/network`);
await page.waitForLoadState('networkidle');
await page.screenshot({ path: `${outDir}/network.png`, fullPage: false });
const school = node('thcs-');
await login(school);
await page.screenshot({ path: `${outDir}/school-overview.png`, fullPage: false });
await browser.close();
