#include "engine/resolver.h"

#include "engine/timer.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>

namespace engine {

std::string address::to_string() const
{
    char text[INET6_ADDRSTRLEN] = {};
    if (storage.ss_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
        uv_ip4_name(a, text, sizeof text);
        return std::string(text) + ":" + std::to_string(ntohs(a->sin_port));
    }
    auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    uv_ip6_name(a, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(a->sin6_port));
}

std::optional<address> parse_ip(const std::string& host, std::uint16_t port)
{
    address a;
    if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&a.storage)) == 0) {
        return a;
    }
    if (host.find(':') != std::string::npos
        && uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&a.storage)) == 0) {
        return a;
    }
    return std::nullopt;
}

namespace {

/// The system resolver: getaddrinfo() on libuv's thread pool. The request frees itself when
/// it returns (the pool cannot stop a getaddrinfo() in progress; waiters have deadlines).
struct system_request {
    uv_getaddrinfo_t req{};
    std::string host;
    std::function<void(lookup_result)> done;

    static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res)
    {
        std::unique_ptr<system_request> self(static_cast<system_request*>(req->data));
        if (status != 0) {
            uv_freeaddrinfo(res);
            self->done(make_error(stage::resolve, errc::resolve_failed,
                "cannot resolve " + self->host + ": " + uv_strerror(status)));
            return;
        }
        std::vector<address> found;
        for (addrinfo* ai = res; ai; ai = ai->ai_next) {
            if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
                address a;
                std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
                found.push_back(a);
            }
        }
        uv_freeaddrinfo(res);
        self->done(std::move(found));
    }
};

void system_lookup(const std::string& host, std::function<void(lookup_result)> done)
{
    auto req = std::make_unique<system_request>();
    req->req.data = req.get();
    req->host = host;
    req->done = std::move(done);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int rc = uv_getaddrinfo(loop::current().native(), &req->req, system_request::on_resolved, req->host.c_str(),
        nullptr, &hints);
    if (rc != 0) {
        req->done(make_error(stage::resolve, errc::resolve_failed, "cannot resolve " + host + ": " + uv_strerror(rc)));
        return;
    }
    req.release();   // on_resolved owns it now
}

task<bool> nap(deadline until)
{
    co_return co_await sleep_until(until);
}

void set_port(address& a, std::uint16_t port) noexcept
{
    if (a.storage.ss_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
    } else {
        reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
    }
}

} // namespace

void dns_cache::configure(dns_settings s)
{
    m_settings = std::move(s);
    m_entries.clear();
}

task<lookup_result> dns_cache::find(std::string host, deadline until)
{
    std::shared_ptr<entry> e;
    if (auto it = m_entries.find(host);
        it != m_entries.end() && (!it->second->outcome || clock::now() < it->second->expires)) {
        e = it->second;
    } else {
        e = std::make_shared<entry>();
        m_entries.insert_or_assign(host, e);
        ++m_lookups;
        auto done = [this, host, e](lookup_result r) { complete(host, e, std::move(r)); };
        if (m_settings.lookup) {
            m_settings.lookup(host, std::move(done));
        } else {
            system_lookup(host, std::move(done));
        }
    }
    if (!e->outcome) {
        // Wait for the shared lookup, or for our own deadline or stop, whichever comes first.
        auto stop = co_await current_stop_token();
        std::stop_source wake;
        std::stop_callback forward(stop, [&wake] { wake.request_stop(); });
        e->waiting.push_back(&wake);
        co_await nap(until).under(wake.get_token());
        std::erase(e->waiting, &wake);
        if (!e->outcome) {
            co_return stop.stop_requested()
                ? make_error(stage::resolve, errc::cancelled, "resolving " + host + " was cancelled")
                : make_error(stage::resolve, errc::timed_out, "timed out resolving " + host);
        }
    }
    co_return *e->outcome;
}

void dns_cache::complete(const std::string& host, const std::shared_ptr<entry>& e, lookup_result r)
{
    if (r && r->empty()) {
        r = make_error(stage::resolve, errc::resolve_failed, host + " has no IPv4 or IPv6 address");
    }
    e->expires = clock::now() + (r ? m_settings.ttl : m_settings.negative_ttl);
    e->outcome.emplace(std::move(r));
    // Wakes resume from the loop (the sleeps' close callbacks), never inside this call.
    for (std::stop_source* w : e->waiting) {
        w->request_stop();
    }
}

task<result<std::vector<address>>> resolve(std::string host, std::uint16_t port, deadline until)
{
    std::vector<address> out;
    if (const auto* fixed = loop::current().static_host(host)) {
        for (const auto& ip : *fixed) {
            if (auto a = parse_ip(ip, port)) {
                out.push_back(*a);
            }
        }
        if (out.empty()) {
            co_return make_error(stage::resolve, errc::resolve_failed, "static host " + host + " has no usable address");
        }
        co_return out;
    }
    if (auto a = parse_ip(host, port)) {
        out.push_back(*a);
        co_return out;
    }
    if (host.empty()) {
        co_return make_error(stage::resolve, errc::invalid_argument, "empty host name");
    }
    auto found = co_await loop::current().dns().find(std::move(host), until);
    if (!found) {
        co_return std::move(found).err();
    }
    out = std::move(*found);
    for (address& a : out) {
        set_port(a, port);
    }
    co_return out;
}

} // namespace engine
