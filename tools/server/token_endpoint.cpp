// The loopback OAuth2 token endpoint; see token_endpoint.h.
#include "tools/server/token_endpoint.h"

#include "engine/certs.h"
#include "engine/scope.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>

namespace builtin {

namespace {

using namespace std::chrono_literals;

// A token request is a short form; anything bigger is refused, not buffered.
constexpr std::size_t max_request = 16 * 1024;
constexpr auto request_timeout = 5s;

std::string percent_decode(std::string_view in)
{
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        auto hex = [](char c) {
            return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        };
        if (in[i] == '+') {
            out += ' ';
        } else if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
            out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
            i += 2;
        } else {
            out += in[i];
        }
    }
    return out;
}

std::map<std::string, std::string> parse_form(std::string_view body)
{
    std::map<std::string, std::string> out;
    while (!body.empty()) {
        auto amp = body.find('&');
        std::string_view pair = body.substr(0, amp);
        auto eq = pair.find('=');
        out.emplace(percent_decode(pair.substr(0, eq)), eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1)));
        body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    }
    return out;
}

/// The error shape of Entra ID and Google (RFC 6749 section 5.2).
std::string error_json(std::string_view error, std::string_view description)
{
    return fmt::format(R"({{"error":"{}","error_description":"{}"}})", error, description);
}

} // namespace

void token_endpoint::add_client(std::string client_id, std::string client_secret)
{
    m_clients.insert_or_assign(std::move(client_id), std::move(client_secret));
}

std::string token_endpoint::new_token(std::string_view prefix) const
{
    std::uint8_t bytes[24];
    RAND_bytes(bytes, sizeof bytes);
    std::string out(prefix);
    for (auto b : bytes) {
        out += fmt::format("{:02x}", b);
    }
    return out;
}

std::string token_endpoint::issue_refresh_token(const std::string& client_id)
{
    auto token = new_token("rt-");
    m_refresh.emplace(token, client_id);
    return token;
}

bool token_endpoint::accepts(std::string_view access_token) const
{
    auto it = m_access.find(access_token);
    return it != m_access.end() && engine::clock::now() < it->second;
}

std::string token_endpoint::url() const
{
    return fmt::format("https://127.0.0.1:{}/common/oauth2/v2.0/token", port());
}

engine::result<void> token_endpoint::start()
{
    auto ca = engine::make_ca("mailprobe builtin token endpoint CA (throwaway)");
    if (!ca) {
        return std::move(ca).err();
    }
    engine::cert_request req;
    req.common_name = "127.0.0.1";
    req.ip_addresses = {"127.0.0.1"};
    auto leaf = engine::issue_cert(*ca, req);
    if (!leaf) {
        return std::move(leaf).err();
    }
    auto tls = engine::tls_context::server(leaf->cert, leaf->key);
    if (!tls) {
        return std::move(tls).err();
    }
    m_tls.emplace(std::move(*tls));
    m_ca_pem = ca->cert;
    auto bound = engine::listener::bind("127.0.0.1", 0);
    if (!bound) {
        return std::move(bound).err();
    }
    m_listener = std::move(*bound);
    return {};
}

engine::task<void> token_endpoint::run()
{
    engine::scope loop;
    m_running = &loop;
    if (m_stop) {
        loop.request_stop();
    }
    loop.spawn(serve_loop(this));
    co_await loop.join();
    m_running = nullptr;
}

void token_endpoint::stop() noexcept
{
    m_stop = true;
    if (m_running) {
        m_running->request_stop();
    }
}

engine::task<void> token_endpoint::serve_loop(token_endpoint* self)
{
    while (!self->m_stop) {
        auto c = co_await self->m_listener.accept();
        if (!c) {
            if (c.err().code == engine::errc::cancelled) {
                co_return;
            }
            continue;
        }
        // One request at a time: a test peer, and every wait below has a deadline.
        co_await self->serve(std::move(*c));
    }
}

engine::task<void> token_endpoint::serve(engine::connection c)
{
    auto until = engine::after(request_timeout);
    c.set_max_buffer(max_request);
    if (auto hs = co_await c.accept_tls(*m_tls, until); !hs) {
        co_await c.close();
        co_return;
    }
    // Read the head, then Content-Length bytes of form.
    std::size_t head_end = std::string_view::npos;
    std::size_t length = 0;
    bool ok = true;
    for (;;) {
        std::string_view buf = c.buffered();
        if (head_end == std::string_view::npos && (head_end = buf.find("\r\n\r\n")) != std::string_view::npos) {
            head_end += 4;
            std::string head(buf.substr(0, head_end));
            std::transform(head.begin(), head.end(), head.begin(), [](char ch) {
                return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
            });
            auto cl = head.find("\r\ncontent-length:");
            ok = head.starts_with("post ") && cl != std::string::npos;
            if (ok) {
                length = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
                ok = length <= max_request;
            }
        }
        if (!ok || (head_end != std::string_view::npos && buf.size() >= head_end + length)) {
            break;
        }
        if (auto got = co_await c.read(until); !got) {
            ok = false;
            break;
        }
    }
    if (ok) {
        ++m_requests;
        auto r = answer(c.buffered().substr(head_end, length));
        std::string_view reason = r.status == 200 ? "OK" : r.status == 401 ? "Unauthorized" : "Bad Request";
        std::string response = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json; charset=utf-8\r\n"
                                           "Cache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            r.status, reason, r.body.size(), r.body);
        (void)co_await c.write(response, until);
    }
    co_await c.close();
}

token_endpoint::reply token_endpoint::answer(std::string_view body)
{
    auto form = parse_form(body);
    auto field = [&form](const char* name) -> std::string {
        auto it = form.find(name);
        return it == form.end() ? std::string() : it->second;
    };
    auto client = m_clients.find(field("client_id"));
    if (client == m_clients.end()) {
        return {400, error_json("unauthorized_client", "AADSTS700016: Application with identifier was not found "
                                                       "in the directory.")};
    }
    if (client->second != field("client_secret")) {
        return {401, error_json("invalid_client", "AADSTS7000215: Invalid client secret provided.")};
    }
    std::string grant = field("grant_type");
    std::string rotated;
    if (grant == "refresh_token") {
        auto rt = m_refresh.find(field("refresh_token"));
        if (rt == m_refresh.end() || rt->second != client->first) {
            return {400, error_json("invalid_grant", "AADSTS70000: The provided value for the input parameter "
                                                     "'refresh_token' is not valid. The refresh token has been revoked.")};
        }
        if (rotate_refresh_tokens) {
            m_refresh.erase(rt);
            rotated = issue_refresh_token(client->first);
        }
    } else if (grant != "client_credentials") {
        return {400, error_json("unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")};
    }
    auto access = new_token("at-");
    m_access.emplace(access, engine::clock::now() + lifetime);
    ++m_granted;
    std::string json = fmt::format(R"({{"token_type":"Bearer","expires_in":{},"access_token":"{}")", lifetime.count(), access);
    if (!rotated.empty()) {
        json += fmt::format(R"(,"refresh_token":"{}")", rotated);
    }
    json += "}";
    return {200, std::move(json)};
}

} // namespace builtin
