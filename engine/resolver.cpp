#include "engine/resolver.h"

#include "engine/timer.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <coroutine>
#include <cstring>

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

// Outlives the awaiting coroutine when the deadline passes first: libuv's thread pool
// cannot stop a getaddrinfo() in progress, so the request frees itself when it returns.
struct lookup {
    uv_getaddrinfo_t req{};
    uv_timer_t timer{};
    std::coroutine_handle<> waiter;
    int refs = 2;   // the request and the timer handle
    bool stopped = false;
    std::optional<result<std::vector<address>>> outcome;
    std::string host;

    struct on_stop {
        lookup* self;
        void operator()() const noexcept
        {
            // Never resume inline (we may be inside request_stop()): fire the timer now.
            if (!self->outcome) {
                self->stopped = true;
                uv_timer_start(&self->timer, on_timer, 0, 0);
            }
        }
    };
    std::optional<std::stop_callback<on_stop>> stop_cb;

    void release()
    {
        if (--refs == 0) {
            delete this;
        }
    }

    void finish(result<std::vector<address>> r)
    {
        if (outcome) {
            return;
        }
        outcome.emplace(std::move(r));
        stop_cb.reset();
        uv_timer_stop(&timer);
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), [](uv_handle_t* h) {
            static_cast<lookup*>(h->data)->release();
        });
        if (waiter) {
            std::exchange(waiter, nullptr).resume();
        }
    }

    static void on_timer(uv_timer_t* t)
    {
        auto* o = static_cast<lookup*>(t->data);
        o->finish(o->stopped ? make_error(stage::resolve, errc::cancelled, "resolving " + o->host + " was cancelled")
                             : make_error(stage::resolve, errc::timed_out, "timed out resolving " + o->host));
    }

    static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res)
    {
        auto* self = static_cast<lookup*>(req->data);
        if (status == 0) {
            std::vector<address> found;
            for (addrinfo* ai = res; ai; ai = ai->ai_next) {
                if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
                    address a;
                    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
                    found.push_back(a);
                }
            }
            self->finish(std::move(found));
        } else {
            self->finish(make_error(stage::resolve, errc::resolve_failed,
                "cannot resolve " + self->host + ": " + uv_strerror(status)));
        }
        uv_freeaddrinfo(res);
        self->release();
    }
};

struct lookup_awaiter {
    lookup* op;
    deadline until;
    std::uint16_t port;

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h)
    {
        return start(h, detail::stop_token_of(h));
    }
    // The op is alive here: its request reference is released only after finish() returns.
    result<std::vector<address>> await_resume() { return std::move(*op->outcome); }

    bool start(std::coroutine_handle<> h, std::stop_token stop)
    {
        uv_loop_t* l = loop::current().native();
        op->req.data = op;
        op->timer.data = op;
        uv_timer_init(l, &op->timer);
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG;
        std::string service = std::to_string(port);
        int rc = uv_getaddrinfo(l, &op->req, lookup::on_resolved, op->host.c_str(), service.c_str(), &hints);
        if (rc != 0) {
            op->refs = 1;   // no request in flight
            op->finish(make_error(stage::resolve, errc::resolve_failed, "cannot resolve " + op->host + ": " + uv_strerror(rc)));
            return false;
        }
        op->waiter = h;
        uv_timer_start(&op->timer, lookup::on_timer, millis_until(until), 0);
        op->stop_cb.emplace(std::move(stop), lookup::on_stop{op});
        return true;
    }
};

} // namespace

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
    auto* op = new lookup;
    op->host = host;
    auto r = co_await lookup_awaiter{op, until, port};
    if (r && r->empty()) {
        co_return make_error(stage::resolve, errc::resolve_failed, host + " has no IPv4 or IPv6 address");
    }
    co_return r;
}

} // namespace engine
