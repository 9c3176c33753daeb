// A minimal HTTPS client on engine::connection and our BoringSSL transform: one form POST per
// connection, the response read with the bounded http::response_parser. It exists so the
// OAuth2 token endpoints can be called without libcurl (which would bring OpenSSL into the
// process next to BoringSSL).
//
// Refuses plain http (the body carries client secrets and refresh tokens), certificates that
// do not verify under the given TLS context, and responses that break the parser's limits.
// Every wait shares one deadline. Errors carry stage resolve/connect/tls from the engine, and
// `none` otherwise: the caller says which probe stage a failure belongs to.
#pragma once

#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"
#include "protocols/http/request.h"
#include "protocols/http/response_parser.h"

#include <chrono>
#include <string>

namespace protocols::http {

struct response {
    int status = 0;
    std::string body;           // decoded (chunks joined); may hold tokens: never log it
};

/// POSTs `encoded_form` (see form_encode()) to `to` over TLS verified with `tls`, within
/// `timeout` from now, and returns the final response (1xx responses are skipped).
engine::task<engine::result<response>> post_form(url to, std::string encoded_form, engine::tls_context tls,
    std::chrono::milliseconds timeout, response_limits limits = {});

} // namespace protocols::http
