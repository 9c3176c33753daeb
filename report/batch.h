// Batch reports (`mailprobe report`): the summaries of report/summary.h laid out as
//  - HTML: one self-contained page per tenant and an index. Charts are inline SVG drawn
//    here (availability timeline, delivery latency over time, Down results per stage); no
//    script, no font, no link outside the file, so it opens offline and as a mail attachment.
//  - CSV: report.csv (one row per tenant and probe) and down-intervals.csv, for spreadsheets.
//    Cells that a spreadsheet would run as a formula (= + - @ first) get a leading ', since
//    reasons quote servers' words.
//  - JSON: report.json, every number of the summaries, for other tools.
// Every format says which hours were counted from hourly rollups (less detail): the
// hourly_from and hourly_to columns, "hourly" in JSON, a note and a blue band in HTML.
#pragma once

#include "report/summary.h"

#include <string>
#include <vector>

namespace report {

struct formats {
    bool html = false;
    bool csv = false;
    bool json = false;
};

/// The tenant's page.
std::string tenant_html(const tenant_summary& t, const report_options& o);

/// The index page, linking each tenant's page by `file_of(t)`.
std::string index_html(const std::vector<tenant_summary>& tenants, const report_options& o);

std::string report_csv(const std::vector<tenant_summary>& tenants, const report_options& o);
std::string down_intervals_csv(const std::vector<tenant_summary>& tenants);
std::string report_json(const std::vector<tenant_summary>& tenants, const report_options& o);

/// The tenant page's file name: "tenant-" and the name with anything but letters, digits,
/// '.', '_', '-' and '@' replaced by '_'.
std::string file_of(const tenant_summary& t);

/// Writes the chosen formats into `dir` (created if missing); returns the files written.
engine::result<std::vector<std::string>> write_report(const std::vector<tenant_summary>& tenants,
    const report_options& o, formats which, const std::string& dir);

} // namespace report
