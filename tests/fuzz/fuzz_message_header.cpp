// Fuzzes the message readers on arbitrary bytes: the header reader fed whole and resumed
// after a prefix (same outcome required), the complete-block reader, the bounce reader and
// the verification of whatever X-Mailprobe value turns up. Every view a reader returns
// must lie inside the input; consumed never exceeds the input.
#include "protocols/message/dsn.h"
#include "protocols/message/header_reader.h"
#include "protocols/message/probe_header.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace protocols::message;

namespace {

std::string_view g_input;

void check_inside(std::string_view v)
{
    if (v.empty()) {
        return;
    }
    if (v.data() < g_input.data() || v.data() + v.size() > g_input.data() + g_input.size()) {
        __builtin_trap();
    }
}

std::string summary(const message_headers& h)
{
    std::string s = std::to_string(h.field_count) + "/" + std::to_string(h.probe_header_count) + "/"
        + std::string(h.subject) + "/" + std::string(h.date) + "\n";
    for (const auto& hop : h.hops) {
        check_inside(hop.from);
        check_inside(hop.from_info);
        check_inside(hop.by);
        check_inside(hop.with);
        check_inside(hop.date_text);
        s += std::string(hop.from) + " " + std::string(hop.by) + " " + (hop.unix_ms ? std::to_string(*hop.unix_ms) : "-")
            + " " + (hop.delay_ms ? std::to_string(*hop.delay_ms) : "-") + "\n";
        if (hop.delay_ms && hop.clock_skew != (*hop.delay_ms < 0)) {
            __builtin_trap();
        }
    }
    for (const auto& r : h.auth) {
        check_inside(r.authserv_id);
        for (const auto& m : h.methods(r)) {
            check_inside(m.method);
            check_inside(m.result);
            check_inside(m.reason);
            if (m.property_count > auth_method::max_properties) {
                __builtin_trap();
            }
            for (std::size_t i = 0; i < m.property_count; ++i) {
                check_inside(m.properties[i].value);
            }
            s += std::string(m.method) + "=" + std::string(m.result) + "\n";
        }
    }
    if (h.probe_header) {
        check_inside(*h.probe_header);
    }
    return s;
}

bool same(const protocols::parse_status& a, const protocols::parse_status& b)
{
    return a.state == b.state && a.consumed == b.consumed && a.code == b.code && a.offset == b.offset;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    g_input = in;
    header_limits limits;
    limits.max_header_bytes = 4096;
    limits.max_fields = 64;
    static const std::array<std::uint8_t, 16> key_bytes = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const mac_key key = *mac_key::from_bytes(key_bytes);

    header_reader whole(limits);
    const protocols::parse_status st = whole.parse(in);
    if (st.complete() && (st.consumed == 0 || st.consumed > size)) {
        __builtin_trap();
    }
    const std::string whole_summary = st.complete() ? summary(whole.headers()) : std::string();
    if (st.complete()) {
        classify_arrival(whole.headers(), key);
    }

    for (std::size_t cut : {std::size_t{1}, size / 3, size / 2, size - (size > 0 ? 1 : 0)}) {
        if (cut == 0 || cut >= size) {
            continue;
        }
        header_reader resumed(limits);
        protocols::parse_status first = resumed.parse(in.substr(0, cut));
        if (first.complete() || first.failed()) {
            if (!same(first, st)) {
                __builtin_trap();
            }
            continue;
        }
        protocols::parse_status second = resumed.parse(in);
        if (!same(second, st)) {
            __builtin_trap();
        }
        if (second.complete() && summary(resumed.headers()) != whole_summary) {
            __builtin_trap();
        }
    }

    header_reader block(limits);
    protocols::parse_status b = block.read(in);
    if (b.complete()) {
        if (b.consumed > size) {
            __builtin_trap();
        }
        summary(block.headers());
        header_check c = verify_probe_header(block.headers().probe_header, key);
        if (c.verdict == header_verdict::ours) {
            check_inside(c.stamp.probe_name);
        }
    }

    dsn_limits dl;
    dl.headers = limits;
    dl.max_message_bytes = 64 * 1024;
    dsn_reader dsn(dl);
    protocols::parse_status d = dsn.read(in);
    if (d.complete()) {
        if (d.consumed != size) {
            __builtin_trap();
        }
        const bounce_report& r = dsn.report();
        check_inside(r.reporting_mta);
        if (r.recipients.size() > dl.max_recipients) {
            __builtin_trap();
        }
        for (const auto& rcpt : r.recipients) {
            check_inside(rcpt.final_recipient);
            check_inside(rcpt.status);
            check_inside(rcpt.diagnostic_code);
        }
        if (r.probe_header) {
            check_inside(*r.probe_header);
            verify_probe_header(r.probe_header, key);
        }
    } else if (d.failed() && d.offset > size) {
        __builtin_trap();
    }
    return 0;
}
