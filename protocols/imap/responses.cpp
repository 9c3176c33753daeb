// Typed readers over the token vector of a completed IMAP response. The data grammars read
// here (RFC 9051 section 9, RFC 4731, RFC 5258, RFC 6154):
//
//   capability-data = "CAPABILITY" *(SP capability) SP "IMAP4rev2" *(SP capability)
//   mailbox-list    = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox
//                     [SP mbox-list-extended]
//   mailbox-data    =/ "SEARCH" *(SP nz-number) / number SP "EXISTS" / number SP "RECENT"
//   esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
//   search-correlator = SP "(" "TAG" SP tag-string ")"
//   search-return-data = "MIN" SP nz-number / "MAX" SP nz-number / "ALL" SP sequence-set /
//                        "COUNT" SP number / search-modifier-name SP search-return-value
//   message-data    = nz-number SP ("EXPUNGE" / ("FETCH" SP msg-att))
//   msg-att         = "(" (msg-att-dynamic / msg-att-static) *(SP (msg-att-dynamic /
//                     msg-att-static)) ")"
//   sequence-set    = (seq-number / seq-range) ["," sequence-set]
#include "protocols/imap/responses.h"

#include <limits>

namespace protocols::imap {

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) noexcept
{
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::optional<std::uint32_t> to_u32(std::string_view s) noexcept
{
    auto n = to_number(s);
    if (!n || *n > std::numeric_limits<std::uint32_t>::max()) {
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(*n);
}

// The bytes strictly inside the list opened at token `open`.
std::string_view list_inside(const response& r, std::size_t open) noexcept
{
    std::size_t close = r.skip(open) - 1;
    std::size_t from = r[open].offset + 1;
    return r.raw().substr(from, r[close].offset - from);
}

struct attribute_name {
    std::string_view name;
    std::uint32_t bit;
};

constexpr attribute_name attribute_names[] = {
    {"\\Noinferiors", attr_noinferiors}, {"\\Noselect", attr_noselect},
    {"\\Marked", attr_marked},           {"\\Unmarked", attr_unmarked},
    {"\\HasChildren", attr_haschildren}, {"\\HasNoChildren", attr_hasnochildren},
    {"\\NonExistent", attr_nonexistent}, {"\\Subscribed", attr_subscribed},
    {"\\Remote", attr_remote},           {"\\All", attr_all},
    {"\\Archive", attr_archive},         {"\\Drafts", attr_drafts},
    {"\\Flagged", attr_flagged},         {"\\Junk", attr_junk},
    {"\\Sent", attr_sent},               {"\\Trash", attr_trash},
    {"\\Important", attr_important},
};

} // namespace

std::optional<std::uint64_t> to_number(std::string_view digits) noexcept
{
    if (digits.empty() || digits.size() > 20) {
        return std::nullopt;
    }
    std::uint64_t n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        auto d = static_cast<std::uint64_t>(c - '0');
        if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
            return std::nullopt;
        }
        n = n * 10 + d;
    }
    return n;
}

std::string_view tag_of(const response& r) noexcept
{
    return r.size() > 0 ? r.view(0) : std::string_view();
}

condition condition_of(const response& r) noexcept
{
    if (r.kind() == response_kind::continuation || r.size() < 2 || r[1].type != token_type::atom) {
        return condition::none;
    }
    std::string_view word = r.view(1);
    if (iequals(word, "OK")) {
        return condition::ok;
    }
    if (iequals(word, "NO")) {
        return condition::no;
    }
    if (iequals(word, "BAD")) {
        return condition::bad;
    }
    if (iequals(word, "PREAUTH")) {
        return condition::preauth;
    }
    if (iequals(word, "BYE")) {
        return condition::bye;
    }
    return condition::none;
}

resp_text text_of(const response& r) noexcept
{
    resp_text t;
    std::size_t i = 0;
    if (r.kind() == response_kind::continuation) {
        i = 1;
    } else if (condition_of(r) != condition::none) {
        i = 2;
    } else {
        return t;
    }
    for (; i < r.size(); ++i) {
        switch (r[i].type) {
        case token_type::code: t.code = r.view(i); break;
        case token_type::code_args: t.code_args = r.view(i); break;
        case token_type::text: t.text = r.view(i); break;
        default: break;
        }
    }
    return t;
}

std::optional<std::uint64_t> code_number(const resp_text& t) noexcept
{
    return to_number(t.code_args);
}

std::optional<untagged_data> data_of(const response& r) noexcept
{
    if (r.kind() != response_kind::untagged || r.size() < 2 || condition_of(r) != condition::none) {
        return std::nullopt;
    }
    if (r[1].type == token_type::number) {
        auto n = to_u32(r.view(1));
        if (!n || r.size() < 3) {
            return std::nullopt;
        }
        return untagged_data{n, r.view(2), 3};
    }
    return untagged_data{std::nullopt, r.view(1), 2};
}

std::string_view capability_text(const response& r) noexcept
{
    if (auto d = data_of(r)) {
        if (!iequals(d->name, "CAPABILITY") || d->first_arg >= r.size()) {
            return {};
        }
        return r.span_view(d->first_arg, r.size() - 1);
    }
    resp_text t = text_of(r);
    return iequals(t.code, "CAPABILITY") ? t.code_args : std::string_view();
}

bool list_contains(std::string_view list, std::string_view item) noexcept
{
    while (!list.empty()) {
        std::size_t sp = list.find(' ');
        std::string_view word = list.substr(0, sp);
        if (iequals(word, item)) {
            return true;
        }
        if (sp == std::string_view::npos) {
            break;
        }
        list.remove_prefix(sp + 1);
    }
    return false;
}

bool has_auth_mechanism(std::string_view caps, std::string_view mech) noexcept
{
    while (!caps.empty()) {
        std::size_t sp = caps.find(' ');
        std::string_view word = caps.substr(0, sp);
        if (starts_with_ci(word, "AUTH=") && iequals(word.substr(5), mech)) {
            return true;
        }
        if (sp == std::string_view::npos) {
            break;
        }
        caps.remove_prefix(sp + 1);
    }
    return false;
}

std::optional<list_entry> list_entry_of(const response& r) noexcept
{
    auto d = data_of(r);
    if (!d || d->number || !(iequals(d->name, "LIST") || iequals(d->name, "LSUB") || iequals(d->name, "XLIST"))) {
        return std::nullopt;
    }
    std::size_t i = d->first_arg;
    if (i >= r.size() || r[i].type != token_type::list_begin) {
        return std::nullopt;
    }
    list_entry e;
    e.attributes_raw = list_inside(r, i);
    std::size_t after = r.skip(i);
    for (std::size_t j = i + 1; j + 1 < after; ++j) {
        if (r[j].type != token_type::atom) {
            return std::nullopt;
        }
        for (const auto& a : attribute_names) {
            if (iequals(r.view(j), a.name)) {
                e.attributes |= a.bit;
            }
        }
    }
    i = after;
    if (i + 1 >= r.size()) {
        return std::nullopt;
    }
    if (r[i].type == token_type::quoted) {
        std::string_view q = r.view(i);
        if (q.size() == 1 && q[0] != '\\') {
            e.delimiter = q[0];
        } else if (q.size() == 2 && q[0] == '\\') {
            e.delimiter = q[1];
        } else {
            return std::nullopt;
        }
    } else if (r[i].type != token_type::nil) {
        return std::nullopt;
    }
    ++i;
    switch (r[i].type) {
    case token_type::atom:
    case token_type::number:
    case token_type::nil: // a mailbox literally named NIL is sent as an atom
    case token_type::quoted:
    case token_type::literal:
        e.name_type = r[i].type == token_type::quoted || r[i].type == token_type::literal ? r[i].type
                                                                                        : token_type::atom;
        e.name_raw = r.view(i);
        return e;
    default:
        return std::nullopt;
    }
}

void append_string(token_type type, std::string_view raw, std::string& out)
{
    if (type == token_type::quoted) {
        append_unquoted(raw, out);
    } else {
        out += raw;
    }
}

bool search_results(const response& r, std::vector<std::uint32_t>& out)
{
    auto d = data_of(r);
    if (!d || d->number || !iequals(d->name, "SEARCH")) {
        return false;
    }
    const std::size_t before = out.size();
    for (std::size_t i = d->first_arg; i < r.size(); i = r.skip(i)) {
        if (r[i].type == token_type::list_begin) {
            continue; // RFC 7162 "(MODSEQ n)"
        }
        auto n = r[i].type == token_type::number ? to_u32(r.view(i)) : std::nullopt;
        if (!n) {
            out.resize(before);
            return false;
        }
        out.push_back(*n);
    }
    return true;
}

std::optional<esearch_result> esearch_of(const response& r) noexcept
{
    auto d = data_of(r);
    if (!d || d->number || !iequals(d->name, "ESEARCH")) {
        return std::nullopt;
    }
    esearch_result e;
    std::size_t i = d->first_arg;
    if (i < r.size() && r[i].type == token_type::list_begin) {
        if (r.skip(i) != i + 4 || !iequals(r.view(i + 1), "TAG") ||
            (r[i + 2].type != token_type::quoted && r[i + 2].type != token_type::literal)) {
            return std::nullopt;
        }
        e.tag = r.view(i + 2);
        i += 4;
    }
    if (i < r.size() && r[i].type == token_type::atom && iequals(r.view(i), "UID")) {
        e.uid = true;
        ++i;
    }
    while (i < r.size()) {
        if (r[i].type != token_type::atom || i + 1 >= r.size()) {
            return std::nullopt;
        }
        std::string_view name = r.view(i);
        std::string_view value = r.view(i + 1);
        const bool is_number = r[i + 1].type == token_type::number;
        if (iequals(name, "MIN") || iequals(name, "MAX") || iequals(name, "COUNT")) {
            auto n = is_number ? to_u32(value) : std::nullopt;
            if (!n) {
                return std::nullopt;
            }
            (iequals(name, "MIN") ? e.min : iequals(name, "MAX") ? e.max : e.count) = n;
        } else if (iequals(name, "ALL")) {
            if (!is_number && r[i + 1].type != token_type::atom) {
                return std::nullopt;
            }
            e.all = value;
        }
        i = r.skip(i + 1);
    }
    return e;
}

bool expand_sequence_set(std::string_view set, std::vector<std::uint32_t>& out, std::size_t max_numbers)
{
    const std::size_t before = out.size();
    auto give_up = [&] {
        out.resize(before);
        return false;
    };
    if (set.empty()) {
        return false;
    }
    while (true) {
        std::size_t comma = set.find(',');
        std::string_view part = set.substr(0, comma);
        std::size_t colon = part.find(':');
        auto lo = to_u32(part.substr(0, colon));
        auto hi = colon == std::string_view::npos ? lo : to_u32(part.substr(colon + 1));
        if (!lo || !hi || *lo == 0 || *hi == 0) {
            return give_up();
        }
        std::uint32_t a = std::min(*lo, *hi);
        std::uint32_t b = std::max(*lo, *hi);
        if (static_cast<std::uint64_t>(b - a) + 1 > max_numbers - (out.size() - before)) {
            return give_up();
        }
        for (std::uint64_t n = a; n <= b; ++n) {
            out.push_back(static_cast<std::uint32_t>(n));
        }
        if (comma == std::string_view::npos) {
            return true;
        }
        set.remove_prefix(comma + 1);
    }
}

fetch_reader::fetch_reader(const response& r) noexcept : m_response(&r)
{
    auto d = data_of(r);
    if (!d || !d->number || !iequals(d->name, "FETCH") || d->first_arg >= r.size() ||
        r[d->first_arg].type != token_type::list_begin) {
        return;
    }
    m_number = *d->number;
    m_index = d->first_arg + 1;
    m_end = r.skip(d->first_arg) - 1;
    m_valid = m_end < r.size() && r[m_end].type == token_type::list_end;
}

std::optional<fetch_item> fetch_reader::next() noexcept
{
    if (!m_valid || m_index >= m_end) {
        return std::nullopt;
    }
    const response& r = *m_response;
    if (r[m_index].type != token_type::atom || m_index + 1 >= m_end) {
        m_valid = false;
        return std::nullopt;
    }
    fetch_item item{r.view(m_index), r[m_index + 1].type, r.view(m_index + 1), m_index + 1};
    if (item.type == token_type::list_begin) {
        item.value = list_inside(r, m_index + 1);
    }
    m_index = r.skip(m_index + 1);
    return item;
}

std::optional<fetch_summary> fetch_summary_of(const response& r) noexcept
{
    fetch_reader reader(r);
    if (!reader.valid()) {
        return std::nullopt;
    }
    fetch_summary s;
    s.message_number = reader.message_number();
    while (auto item = reader.next()) {
        if (iequals(item->name, "UID")) {
            s.uid = item->type == token_type::number ? to_u32(item->value) : std::nullopt;
            if (!s.uid) {
                return std::nullopt;
            }
        } else if (iequals(item->name, "RFC822.SIZE")) {
            s.rfc822_size = item->type == token_type::number ? to_number(item->value) : std::nullopt;
            if (!s.rfc822_size) {
                return std::nullopt;
            }
        } else if (iequals(item->name, "INTERNALDATE")) {
            if (item->type != token_type::quoted) {
                return std::nullopt;
            }
            s.internal_date = item->value;
        } else if (iequals(item->name, "FLAGS")) {
            if (item->type != token_type::list_begin) {
                return std::nullopt;
            }
            s.flags = item->value;
        } else if ((starts_with_ci(item->name, "BODY[") || starts_with_ci(item->name, "BINARY[")) &&
                   s.section_name.empty()) {
            if (item->type == token_type::list_begin || item->type == token_type::atom ||
                item->type == token_type::number) {
                return std::nullopt;
            }
            s.section_name = item->name;
            s.section_type = item->type;
            s.section = item->type == token_type::nil ? std::string_view() : item->value;
        }
    }
    if (!reader.valid()) {
        return std::nullopt;
    }
    return s;
}

} // namespace protocols::imap
