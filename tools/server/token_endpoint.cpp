// The loopback OAuth2 token endpoint; see token_endpoint.h.
#include "tools/server/token_endpoint.h"

#include "engine/certs.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "protocols/common/sasl.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/digest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <memory>

namespace builtin {

namespace {

using namespace std::chrono_literals;
namespace sasl = protocols::sasl;

// A token request is a short form; anything bigger is refused, not buffered.
constexpr std::size_t max_request = 16 * 1024;
constexpr auto request_timeout = 5s;
// How long a hanging fault holds a connection: longer than any client bound under test.
constexpr auto fault_hold = 10s;

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

template <class T, void (*F)(T*)>
struct deleter {
    void operator()(T* p) const noexcept { F(p); }
};
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

/// The certificate's SHA-1 and SHA-256 thumbprints, base64url, as x5t and x5t#S256 carry them.
std::pair<std::string, std::string> thumbprints(X509* cert)
{
    std::uint8_t* der = nullptr;
    int len = i2d_X509(cert, &der);
    if (len <= 0) {
        return {};
    }
    std::uint8_t sha1[SHA_DIGEST_LENGTH];
    std::uint8_t sha256[SHA256_DIGEST_LENGTH];
    SHA1(der, static_cast<std::size_t>(len), sha1);
    SHA256(der, static_cast<std::size_t>(len), sha256);
    OPENSSL_free(der);
    return {sasl::base64url_encode(std::string_view(reinterpret_cast<const char*>(sha1), sizeof sha1)),
        sasl::base64url_encode(std::string_view(reinterpret_cast<const char*>(sha256), sizeof sha256))};
}

} // namespace

void token_endpoint::add_client_certificate(std::string client_id, std::string cert_pem)
{
    m_client_certs.insert_or_assign(std::move(client_id), std::move(cert_pem));
}

std::optional<token_endpoint::reply> token_endpoint::refuse_assertion(const std::string& client_id,
    std::string_view assertion)
{
    auto invalid = [](std::string_view description) {
        return reply{401, error_json("invalid_client", description)};
    };
    auto malformed = invalid("AADSTS50027: JWT token is invalid or malformed.");
    auto dot1 = assertion.find('.');
    auto dot2 = dot1 == std::string_view::npos ? dot1 : assertion.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos) {
        return malformed;
    }
    auto header = sasl::base64url_decode(assertion.substr(0, dot1));
    auto claims = sasl::base64url_decode(assertion.substr(dot1 + 1, dot2 - dot1 - 1));
    auto signature = sasl::base64url_decode(assertion.substr(dot2 + 1));
    if (!header.ok() || !claims.ok() || !signature.ok()) {
        return malformed;
    }
    simdjson::dom::parser parser;
    simdjson::dom::object h;
    std::string_view alg;
    if (parser.parse(simdjson::padded_string(header.value)).get_object().get(h) || h["alg"].get_string().get(alg)) {
        return malformed;
    }
    if (alg != "RS256") {
        return invalid("Client assertion is not signed RS256.");
    }
    std::string_view x5t;
    std::string_view x5t256;
    // Either thumbprint may be absent; x5t#S256 wins when both are there.
    if (h["x5t"].get_string().get(x5t) != simdjson::SUCCESS) {
        x5t = {};
    }
    if (h["x5t#S256"].get_string().get(x5t256) != simdjson::SUCCESS) {
        x5t256 = {};
    }

    const std::string& pem = m_client_certs.find(client_id)->second;
    bio_ptr b(BIO_new_mem_buf(pem.data(), pem.size()));
    x509_ptr cert(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
    pkey_ptr key(cert ? X509_get_pubkey(cert.get()) : nullptr);
    if (!key) {
        return invalid("the registered certificate is unreadable");
    }
    auto [sha1, sha256] = thumbprints(cert.get());
    if (x5t256.empty() ? x5t != sha1 : x5t256 != sha256) {
        return invalid("AADSTS700027: The certificate with identifier used to sign the client assertion is not "
                       "registered on application.");
    }
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    std::string_view signed_part = assertion.substr(0, dot2);
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1
        || EVP_DigestVerify(ctx.get(), reinterpret_cast<const std::uint8_t*>(signature.value.data()), signature.value.size(),
               reinterpret_cast<const std::uint8_t*>(signed_part.data()), signed_part.size()) != 1) {
        return invalid("AADSTS700027: Client assertion failed signature validation.");
    }
    simdjson::dom::parser claims_parser;
    simdjson::dom::object c;
    std::string_view aud;
    std::string_view iss;
    std::string_view sub;
    std::string_view jti;
    std::int64_t nbf = 0;
    std::int64_t exp = 0;
    if (claims_parser.parse(simdjson::padded_string(claims.value)).get_object().get(c) || c["aud"].get_string().get(aud)
        || c["iss"].get_string().get(iss) || c["sub"].get_string().get(sub) || c["jti"].get_string().get(jti)
        || c["nbf"].get_int64().get(nbf) || c["exp"].get_int64().get(exp)) {
        return malformed;
    }
    if (aud != url()) {
        return invalid("Client assertion audience claim does not match the token endpoint.");
    }
    if (iss != client_id || sub != client_id) {
        return invalid("Client assertion iss and sub claims must be the client_id.");
    }
    std::int64_t now = std::time(nullptr);
    if (now < nbf || now >= exp) {
        return invalid("AADSTS700024: Client assertion is not within its valid time range.");
    }
    if (jti.empty() || !m_seen_jti.emplace(jti).second) {
        return invalid("Client assertion jti was used before.");
    }
    return std::nullopt;
}

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

engine::task<void> token_endpoint::misbehaving(engine::connection& c, engine::deadline until)
{
    switch (misbehave) {
    case fault::trickle: {
        constexpr std::string_view head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ";
        const auto hold_until = engine::after(fault_hold);
        for (std::size_t i = 0; engine::clock::now() < hold_until; ++i) {
            const std::string_view one = i < head.size() ? head.substr(i, 1) : std::string_view("a");
            const auto w = co_await c.write(one, hold_until);
            if (!w) {
                break;
            }
            const bool slept = co_await engine::sleep_for(100ms);
            if (!slept) {
                break;
            }
        }
        break;
    }
    case fault::garbage:
        (void)co_await c.write(std::string_view("\x16\x03\x01 this is not HTTP\r\n\r\n\x00\xff"), until);
        break;
    case fault::huge_header: {
        std::string response = "HTTP/1.1 200 OK\r\nX-Padding: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
        (void)co_await c.write(response, until);
        break;
    }
    case fault::html_502: {
        constexpr std::string_view page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                                          "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
                                          "</body>\r\n</html>\r\n";
        std::string response = fmt::format("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}"
                                           "\r\nConnection: close\r\n\r\n{}", page.size(), page);
        (void)co_await c.write(response, until);
        break;
    }
    case fault::none:
    case fault::silent:
    case fault::echo_secrets:
        break;
    }
}

engine::task<void> token_endpoint::serve(engine::connection c)
{
    if (misbehave == fault::silent) {
        (void)co_await engine::sleep_for(fault_hold);
        co_await c.close();
        co_return;
    }
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
    if (ok && misbehave != fault::none && misbehave != fault::echo_secrets) {
        ++m_requests;
        co_await misbehaving(c, until);
    } else if (ok) {
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
    std::string client_id = field("client_id");
    if (misbehave == fault::echo_secrets) {
        return {400, error_json("invalid_grant", fmt::format("AADSTS70000: refresh token '{}' presented with "
            "client secret '{}' and client assertion '{}' is not valid.", field("refresh_token"), field("client_secret"),
            field("client_assertion")))};
    }
    bool by_certificate = m_client_certs.contains(client_id);
    if (!by_certificate && !m_clients.contains(client_id)) {
        return {400, error_json("unauthorized_client", "AADSTS700016: Application with identifier was not found "
                                                       "in the directory.")};
    }
    if (by_certificate) {
        if (field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
            return {401, error_json("invalid_client", "AADSTS7000218: The request body must contain the following "
                                                      "parameter: 'client_assertion' or 'client_secret'.")};
        }
        if (auto refused = refuse_assertion(client_id, field("client_assertion"))) {
            return *refused;
        }
    } else if (m_clients.find(client_id)->second != field("client_secret")) {
        return {401, error_json("invalid_client", "AADSTS7000215: Invalid client secret provided.")};
    }
    std::string grant = field("grant_type");
    std::string rotated;
    if (grant == "refresh_token") {
        auto rt = m_refresh.find(field("refresh_token"));
        if (rt == m_refresh.end() || rt->second != client_id) {
            return {400, error_json("invalid_grant", "AADSTS70000: The provided value for the input parameter "
                                                     "'refresh_token' is not valid. The refresh token has been revoked.")};
        }
        if (rotate_refresh_tokens) {
            m_refresh.erase(rt);
            rotated = issue_refresh_token(client_id);
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
