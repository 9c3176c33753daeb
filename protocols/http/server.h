// A small read-only HTTP/1.1 server on engine::listener, for the status endpoints of
// `mailprobe run --listen`: GET and HEAD only, one request per connection (Connection: close),
// the request head bounded by request_parser's limits, a deadline for the whole head (a slow
// client cannot hold a slot) and for the answer, and a cap on concurrent connections (the
// connection over it gets 503 and is closed). Answers 400, 404, 405, 414, 431 itself.
// Runs on the loop thread, beside the probes.
#pragma once

#include "engine/connection.h"
#include "engine/task.h"
#include "protocols/http/request_parser.h"

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace protocols::http {

/// What the server answers (the client's http::response is what it was answered).
struct reply {
    int status = 200;
    std::string content_type;
    std::string body;
};

/// Answers a GET for `path` (query removed); 404 for a path it does not know. Runs on the
/// loop thread; must not block.
using handler = std::function<reply(std::string_view path)>;

struct server_limits {
    request_limits request;
    std::size_t max_connections = 32;
    std::chrono::milliseconds head_timeout{5000};    // first byte to the end of the head
    std::chrono::milliseconds write_timeout{5000};   // the whole answer
};

/// Accepts on `l` and answers with `h` until a stop is requested (then joins the connections
/// in flight). `l` and `h` must outlive the task.
engine::task<void> serve(engine::listener* l, const handler* h, server_limits limits);

/// The bytes of an answer: status line, Content-Type, Content-Length, Connection: close, no
/// caching; the body only when `with_body` (HEAD gets the head alone).
std::string render(const reply& r, bool with_body);

} // namespace protocols::http
