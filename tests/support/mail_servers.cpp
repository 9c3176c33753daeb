#include "tests/support/mail_servers.h"

#include <simdjson.h>

#include <cstdlib>
#include <stdexcept>

namespace test_support {
namespace {

std::string text(simdjson::simdjson_result<simdjson::dom::element> v)
{
    std::string_view s;
    return v.get_string().get(s) ? std::string() : std::string(s);
}

} // namespace

std::uint16_t mail_org::port(const std::string& name) const
{
    auto it = ports.find(name);
    if (it == ports.end()) {
        throw std::out_of_range("servers.json: no port " + name + " for " + domain);
    }
    return it->second;
}

const mail_user& mail_org::user(const std::string& local_part) const
{
    auto it = users.find(local_part);
    if (it == users.end()) {
        throw std::out_of_range("servers.json: no user " + local_part + " in " + domain);
    }
    return it->second;
}

const mail_org& mail_servers::org(const std::string& name) const
{
    auto it = orgs.find(name);
    if (it == orgs.end()) {
        throw std::out_of_range("servers.json: no organisation " + name);
    }
    return it->second;
}

std::optional<mail_servers> load_mail_servers(std::string& why)
{
    const char* path = std::getenv("MAILPROBE_SERVERS_JSON");
    if (!path || !*path) {
        why = "MAILPROBE_SERVERS_JSON is not set (tools/test.sh starts the servers and sets it)";
        return std::nullopt;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto e = parser.load(path).get(doc); e) {
        why = std::string("cannot read ") + path + ": " + simdjson::error_message(e);
        return std::nullopt;
    }
    mail_servers out;
    out.ca_file = text(doc["ca_file"]);
    simdjson::dom::object orgs;
    if (doc["orgs"].get(orgs)) {
        why = std::string("no orgs in ") + path;
        return std::nullopt;
    }
    for (auto [name, o] : orgs) {
        mail_org org;
        org.domain = text(o["domain"]);
        org.address = text(o["address"]);
        org.hostname = text(o["hostname"]);
        org.junk = text(o["junk"]);
        org.blackhole = text(o["blackhole"]);
        org.unknown = text(o["unknown"]);
        org.forward = text(o["forward"]["address"]);
        org.forward_target = text(o["forward"]["target"]);
        simdjson::dom::object ports;
        if (!o["ports"].get(ports)) {
            for (auto [pname, p] : ports) {
                std::uint64_t n = 0;
                if (!p.get_uint64().get(n)) {
                    org.ports[std::string(pname)] = static_cast<std::uint16_t>(n);
                }
            }
        }
        simdjson::dom::object users;
        if (!o["users"].get(users)) {
            for (auto [uname, u] : users) {
                org.users[std::string(uname)] = {text(u["address"]), text(u["login"]), text(u["password"]), text(u["maildir"])};
            }
        }
        if (org.domain.empty() || org.address.empty() || org.ports.empty() || org.users.empty()) {
            why = std::string("incomplete facts for ") + std::string(name) + " in " + path;
            return std::nullopt;
        }
        out.orgs.emplace(std::string(name), std::move(org));
    }
    if (out.ca_file.empty() || out.orgs.size() != 2) {
        why = std::string("incomplete server facts in ") + path;
        return std::nullopt;
    }
    return out;
}

} // namespace test_support
