// The HTML report in a real browser: headless Chromium (Debian package chromium) loads each
// page from a file, offline (every host name maps to nothing) with a throwaway profile.
// Checked: no console message at all (a page with a deliberate error proves the check sees
// them), each chart's SVG holds the series it announces, and the screenshot really shows the
// timeline's Up and Down colours. Skipped only when chromium is not installed.
#include "tests/report/fixture.h"

#include "report/batch.h"
#include "tests/support/child_process.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace {

bool have_chromium()
{
    return std::system("command -v chromium >/dev/null 2>&1") == 0;
}

struct browser_run {
    std::string dom;      // stdout: the serialized DOM with --dump-dom
    std::string log;      // stderr: Chromium's log, console messages included
};

std::string slurp(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// One headless Chromium run on `page` with `action` (--dump-dom or --screenshot=FILE),
/// bounded by timeout(1).
browser_run chromium(const test_support::temp_dir& dir, const std::string& page, const std::string& action)
{
    std::string err = dir.path() + "/chromium.err";
    std::string cmd = "env HOME='" + dir.path() + "' timeout 90 chromium --headless --no-sandbox --disable-gpu "
        "--no-first-run --disable-background-networking --disable-component-update --disable-sync "
        "--disable-default-apps --host-resolver-rules='MAP * ~NOTFOUND' --user-data-dir='" + dir.path() +
        "/profile' --enable-logging=stderr --v=0 --window-size=1000,2200 " + action + " 'file://" + page + "' 2>'" +
        err + "'";
    browser_run out;
    std::FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) {
        return out;
    }
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
        out.dom.append(buf.data(), n);
    }
    ::pclose(p);
    out.log = slurp(err);
    return out;
}

/// The console lines of a Chromium log ("...:INFO:CONSOLE:1] "message", source: ...").
std::string console_lines(const std::string& log)
{
    std::string out;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        if (line.find(":CONSOLE") != std::string::npos) {
            out += line + "\n";
        }
    }
    return out;
}

/// The number of <g class="series"> inside the SVG with this id in a serialized DOM, and the
/// number it announces in data-series; -1, -1 when the chart is not there.
std::pair<int, int> series_of(const std::string& dom, const std::string& id)
{
    auto at = dom.find("id=\"" + id + "\"");
    if (at == std::string::npos) {
        return {-1, -1};
    }
    auto start = dom.rfind("<svg", at);
    auto end = dom.find("</svg>", at);
    auto announced = std::atoi(dom.c_str() + dom.find("data-series=\"", start) + 13);
    int found = 0;
    for (auto p = dom.find("class=\"series\"", start); p < end; p = dom.find("class=\"series\"", p + 1)) {
        ++found;
    }
    return {found, announced};
}

/// RGB pixels of an 8-bit truecolour PNG (what Chromium writes), unfiltered; empty if not.
struct image {
    std::uint32_t w = 0;
    std::uint32_t h = 0;
    int channels = 0;
    std::vector<unsigned char> px;
};

std::uint32_t be32(const std::string& s, std::size_t at)
{
    auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i])); };
    return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

image decode_png(const std::string& png)
{
    image img;
    std::string idat;
    int colour = -1;
    for (std::size_t i = 8; i + 12 <= png.size();) {
        auto len = be32(png, i);
        auto type = png.substr(i + 4, 4);
        if (type == "IHDR") {
            img.w = be32(png, i + 8);
            img.h = be32(png, i + 12);
            colour = static_cast<unsigned char>(png[i + 17]);
            if (png[i + 16] != 8 || (colour != 2 && colour != 6)) {
                return {};
            }
            img.channels = colour == 2 ? 3 : 4;
        } else if (type == "IDAT") {
            idat += png.substr(i + 8, len);
        }
        i += 12 + len;
    }
    std::size_t stride = static_cast<std::size_t>(img.w) * static_cast<std::size_t>(img.channels);
    std::vector<unsigned char> raw((stride + 1) * img.h);
    uLongf raw_len = raw.size();
    if (img.w == 0 || uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
        raw_len != raw.size()) {
        return {};
    }
    img.px.assign(stride * img.h, 0);
    auto bpp = static_cast<std::size_t>(img.channels);
    for (std::size_t y = 0; y < img.h; ++y) {
        const unsigned char* in = &raw[y * (stride + 1) + 1];
        unsigned char* out = &img.px[y * stride];
        const unsigned char* up = y ? &img.px[(y - 1) * stride] : nullptr;
        int filter = raw[y * (stride + 1)];
        for (std::size_t x = 0; x < stride; ++x) {
            int a = x >= bpp ? out[x - bpp] : 0;
            int b = up ? up[x] : 0;
            int c = up && x >= bpp ? up[x - bpp] : 0;
            int pred = 0;
            switch (filter) {
            case 1: pred = a; break;
            case 2: pred = b; break;
            case 3: pred = (a + b) / 2; break;
            case 4: {
                int p = a + b - c;
                int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
                pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
                break;
            }
            default: break;
            }
            out[x] = static_cast<unsigned char>(in[x] + pred);
        }
    }
    return img;
}

std::size_t count_colour(const image& img, unsigned r, unsigned g, unsigned b)
{
    std::size_t n = 0;
    for (std::size_t i = 0; i + 2 < img.px.size(); i += static_cast<std::size_t>(img.channels)) {
        n += img.px[i] == r && img.px[i + 1] == g && img.px[i + 2] == b ? 1 : 0;
    }
    return n;
}

class report_browser : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!have_chromium()) {
            GTEST_SKIP() << "chromium is not installed (tools/install-deps.sh installs it)";
        }
        auto db = report::store::open(m_dir.path() + "/h.db");
        ASSERT_TRUE(db.has_value());
        ASSERT_TRUE(db->insert(fixture::results()).has_value());
        auto tenants = report::summarize(*db, {}, fixture::period());
        ASSERT_TRUE(tenants.has_value());
        auto written = report::write_report(*tenants, fixture::period(), report::formats{true, false, false},
            m_dir.path() + "/out");
        ASSERT_TRUE(written.has_value());
        ASSERT_EQ(written->size(), 3u);   // two tenants and the index
    }

    test_support::temp_dir m_dir;
};

TEST_F(report_browser, the_console_check_sees_a_page_with_an_error)
{
    auto page = m_dir.write("bad.html", "<!DOCTYPE html><html><body><script>console.error('seen');</script></body></html>");
    auto run = chromium(m_dir, page, "--dump-dom");
    EXPECT_NE(console_lines(run.log).find("seen"), std::string::npos) << run.log;
}

TEST_F(report_browser, every_page_loads_without_a_console_message)
{
    for (const char* name : {"index.html", "tenant-acme.html", "tenant-beta.html"}) {
        auto run = chromium(m_dir, m_dir.path() + "/out/" + name, "--dump-dom");
        EXPECT_NE(run.dom.find("</html>"), std::string::npos) << name << "\n" << run.log;
        EXPECT_EQ(console_lines(run.log), "") << name;
    }
}

TEST_F(report_browser, the_charts_hold_the_series_they_announce)
{
    auto run = chromium(m_dir, m_dir.path() + "/out/tenant-acme.html", "--dump-dom");
    // acme: probes a and b; both found messages; a failed at send and at deliver.
    EXPECT_EQ(series_of(run.dom, "availability"), std::make_pair(2, 2));
    EXPECT_EQ(series_of(run.dom, "latency"), std::make_pair(2, 2));
    EXPECT_EQ(series_of(run.dom, "stages"), std::make_pair(2, 2));
    auto beta = chromium(m_dir, m_dir.path() + "/out/tenant-beta.html", "--dump-dom");
    EXPECT_EQ(series_of(beta.dom, "availability"), std::make_pair(1, 1));
    EXPECT_EQ(series_of(beta.dom, "stages"), std::make_pair(0, 0));   // nothing failed
    EXPECT_NE(beta.dom.find("<polyline"), std::string::npos);
}

TEST_F(report_browser, the_screenshot_shows_up_and_down_in_the_timeline)
{
    auto shot = m_dir.path() + "/acme.png";
    chromium(m_dir, m_dir.path() + "/out/tenant-acme.html", "--screenshot=" + shot);
    auto img = decode_png(slurp(shot));
    ASSERT_GT(img.w, 0u) << "no PNG screenshot";
    // acme/a is Up 90 of 120 minutes and Down 20 on a 730-pixel-wide row: thousands of
    // pixels of each colour; the stage bars add more red.
    EXPECT_GT(count_colour(img, 0x2e, 0x7d, 0x32), 5000u);   // Up
    EXPECT_GT(count_colour(img, 0xc6, 0x28, 0x28), 1000u);   // Down
    EXPECT_GT(count_colour(img, 0xf9, 0xa8, 0x25), 100u);    // Warning
}

TEST_F(report_browser, a_report_partly_from_rollups_loads_clean_and_draws_the_rollup_band)
{
    // The fixture's first hour rolled up by the store's own retention (as in summary_test).
    test_support::temp_dir dir;
    auto db = report::store::open(dir.path() + "/h.db");
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(db->insert(fixture::results()).has_value());
    ASSERT_TRUE(db->set_retention(report::retention{1, 400}).has_value());
    ASSERT_TRUE(db->apply_retention(fixture::t0 + 25 * 60 * fixture::minute + 30 * fixture::minute).has_value());
    auto tenants = report::summarize(*db, {}, fixture::period());
    ASSERT_TRUE(tenants.has_value());
    ASSERT_TRUE(report::write_report(*tenants, fixture::period(), report::formats{true, false, false},
        dir.path() + "/out").has_value());
    for (const char* name : {"index.html", "tenant-acme.html"}) {
        auto run = chromium(dir, dir.path() + "/out/" + name, "--dump-dom");
        EXPECT_NE(run.dom.find("past retention"), std::string::npos) << name << "\n" << run.log;
        EXPECT_EQ(console_lines(run.log), "") << name;
    }
    auto shot = dir.path() + "/acme.png";
    chromium(dir, dir.path() + "/out/tenant-acme.html", "--screenshot=" + shot);
    auto img = decode_png(slurp(shot));
    ASSERT_GT(img.w, 0u) << "no PNG screenshot";
    // Two probes' rows of the rolled-up hour, half of a 730-pixel row each, less acme/a's
    // Down time drawn over it.
    EXPECT_GT(count_colour(img, 0x90, 0xca, 0xf9), 3000u);
    EXPECT_GT(count_colour(img, 0x2e, 0x7d, 0x32), 1000u);   // the raw hour's Up
}

} // namespace
