// The scenario model's small helpers: the redacting secret, enum names, default ports and
// the lookups by name. Nothing here parses or validates.
#include "scenarios/scenario.h"

#include <algorithm>
#include <cstring>
#include <ostream>

namespace scenarios {

secret::secret(std::string value, source from, std::string origin)
    : m_value(std::move(value)), m_from(from), m_origin(std::move(origin))
{
}

secret& secret::operator=(const secret& other)
{
    if (this != &other) {
        wipe();
        m_value = other.m_value;
        m_from = other.m_from;
        m_origin = other.m_origin;
    }
    return *this;
}

secret& secret::operator=(secret&& other) noexcept
{
    if (this != &other) {
        wipe();
        m_value = std::move(other.m_value);
        m_from = other.m_from;
        m_origin = std::move(other.m_origin);
    }
    return *this;
}

secret::~secret()
{
    wipe();
}

void secret::wipe() noexcept
{
    // explicit_bzero: a plain memset before free may be optimised away.
    if (!m_value.empty()) {
        explicit_bzero(m_value.data(), m_value.size());
    }
    m_value.clear();
}

std::ostream& operator<<(std::ostream& out, const secret&)
{
    return out << "<redacted>";
}

std::string_view to_string(protocol_kind p) noexcept
{
    switch (p) {
    case protocol_kind::smtp: return "smtp";
    case protocol_kind::imap: return "imap";
    case protocol_kind::pop3: return "pop3";
    }
    return "?";
}

std::string_view to_string(tls_mode t) noexcept
{
    switch (t) {
    case tls_mode::none: return "none";
    case tls_mode::starttls: return "starttls";
    case tls_mode::implicit: return "implicit";
    }
    return "?";
}

std::string_view to_string(network_zone z) noexcept
{
    return z == network_zone::internal ? "internal" : "external";
}

std::string_view to_string(junk_policy j) noexcept
{
    return j == junk_policy::down ? "down" : "warning";
}

std::uint16_t default_port(protocol_kind p, tls_mode t) noexcept
{
    switch (p) {
    case protocol_kind::smtp:
        return t == tls_mode::implicit ? 465 : t == tls_mode::starttls ? 587 : 25;
    case protocol_kind::imap:
        return t == tls_mode::implicit ? 993 : 143;
    case protocol_kind::pop3:
        return t == tls_mode::implicit ? 995 : 110;
    }
    return 0;
}

namespace {

template <typename T>
const T* find_named(const std::vector<T>& items, std::string_view name) noexcept
{
    auto it = std::find_if(items.begin(), items.end(), [&](const T& x) { return x.name == name; });
    return it == items.end() ? nullptr : &*it;
}

bool iequals(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        return lower(x) == lower(y);
    });
}

} // namespace

const server* scenario::find_server(std::string_view name) const noexcept { return find_named(servers, name); }
const mailbox* scenario::find_mailbox(std::string_view name) const noexcept { return find_named(mailboxes, name); }
const tenant* scenario::find_tenant(std::string_view name) const noexcept { return find_named(tenants, name); }
const probe* scenario::find_probe(std::string_view name) const noexcept { return find_named(probes, name); }

std::string_view domain_of(std::string_view address) noexcept
{
    auto at = address.rfind('@');
    return at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
}

bool is_internal_address(std::string_view address, const std::vector<std::string>& internal_domains) noexcept
{
    std::string_view domain = domain_of(address);
    if (domain.empty()) {
        return false;
    }
    return std::any_of(internal_domains.begin(), internal_domains.end(),
        [&](const std::string& d) { return iequals(d, domain); });
}

} // namespace scenarios
