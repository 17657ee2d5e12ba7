//! The operations center in the browser, on the demo's data (CONTRACT Part 2): indicators
//! with targets and drill-down, a target set with the form, the alerts inbox with an
//! acknowledgement, the forecast, the map, the completeness view, and a school's
//! templates.

use super::*;

#[tokio::test]
async fn the_operations_center_in_the_browser() {
    browse("operations_center", async |c, fx| {
        let dept = fx.department();
        login(c, dept).await?;
        // Operations: every indicator, and the department's own target with its light.
        let nav = c
            .find(Locator::XPath(
                "//nav[contains(@class,'main')]//a[@href='/ops']",
            ))
            .await?;
        click_to(c, nav, "/ops", Locator::Css("table.indicators")).await?;
        let rows = c
            .find_all(Locator::Css("table.indicators tbody tr"))
            .await?;
        ensure!(rows.len() == 13, "{} indicators shown", rows.len());
        find(c, "#ind-reporting_rate .light").await?;
        // Drill down on dropout: the districts, worst first.
        let link = find(c, "#ind-dropout_rate a").await?;
        click_to(c, link, "/ops/", Locator::Css("#drill")).await?;
        let ranked = c.find_all(Locator::Css("#drill tbody tr")).await?;
        ensure!(!ranked.is_empty(), "no unit ranked");
        // A target set with the form.
        let form = c.form(Locator::Css("form[action='/ops/target']")).await?;
        form.set_by_name("indicator", "dropout_rate").await?;
        form.set_by_name("op", "<=").await?;
        form.set_by_name("value", "0.5").await?;
        mark_page(c).await?;
        form.submit().await?;
        navigated(c, "/ops/", Locator::Css("p.ok")).await?;
        find(c, "#ind-dropout_rate .target").await?;

        // Alerts: the demo's oversized classes and missed targets; acknowledge one.
        c.goto(&format!("{}/alerts", dept.url)).await?;
        let open = c
            .find_all(Locator::Css("table.alerts form[action='/alerts/ack']"))
            .await?;
        ensure!(!open.is_empty(), "no open alert at the department");
        let form = c
            .form(Locator::Css("table.alerts form[action='/alerts/ack']"))
            .await?;
        form.set_by_name("note", "Đã giao phòng GD xử lý").await?;
        mark_page(c).await?;
        form.submit().await?;
        navigated(c, "/alerts", Locator::Css("p.ok")).await?;
        let page = c.source().await?;
        ensure!(
            page.contains("Đã giao phòng GD xử lý"),
            "the note is not shown"
        );
        ensure!(
            page.contains("class_over_size") || page.contains("Lớp vượt sĩ số"),
            "the demo's oversized classes raise no alert"
        );

        // Forecast (two school years held), map, completeness.
        c.goto(&format!("{}/forecast/{}", dept.url, dept.id))
            .await?;
        find(c, "table#forecast-grades").await?;
        find(c, "#plan").await?;
        c.goto(&format!("{}/map/{}", dept.url, dept.id)).await?;
        let dots = c.find_all(Locator::Css("svg.map circle")).await?;
        ensure!(!dots.is_empty(), "no school on the map");
        c.goto(&format!("{}/completeness/{}", dept.url, dept.id))
            .await?;
        let schools = c
            .find_all(Locator::Css("table.completeness tbody tr"))
            .await?;
        let expected = fx.nodes.iter().filter(|n| n.level == "school").count();
        ensure!(
            schools.len() == expected,
            "{} of {expected} schools listed",
            schools.len()
        );

        // A school's clerk downloads a template.
        let school = fx.steady_schools()[0];
        login(c, school).await?;
        c.goto(&format!("{}/data", school.url)).await?;
        find(c, "ul.templates a[href='/data/template/results.xlsx']").await?;
        Ok(())
    })
    .await;
}
