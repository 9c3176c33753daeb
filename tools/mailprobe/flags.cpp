#include "tools/mailprobe/flags.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>

std::optional<std::chrono::milliseconds> duration_of(const std::string& s)
{
    std::size_t used = 0;
    long long n = 0;
    try {
        n = std::stoll(s, &used);
    } catch (...) {
        return std::nullopt;
    }
    std::string unit = s.substr(used);
    if (n < 0) {
        return std::nullopt;
    }
    if (unit == "ms") {
        return std::chrono::milliseconds(n);
    }
    if (unit == "s" || unit.empty()) {
        return std::chrono::seconds(n);
    }
    if (unit == "m") {
        return std::chrono::minutes(n);
    }
    return std::nullopt;
}

std::optional<std::string> secret_from(const std::string& env, const std::string& file, std::string& why,
    std::size_t max_bytes)
{
    if (!env.empty() && !file.empty()) {
        why = "give a password from the environment or a file, not both";
        return std::nullopt;
    }
    if (!env.empty()) {
        const char* v = std::getenv(env.c_str());
        if (!v || !*v) {
            why = "environment variable " + env + " is not set";
            return std::nullopt;
        }
        return std::string(v);
    }
    if (file.empty()) {
        return std::string();
    }
    std::ifstream in(file);
    if (!in) {
        why = "cannot read " + file;
        return std::nullopt;
    }
    // A secret file holds one line; more than max_bytes is the wrong file (or /dev/zero).
    std::string v(max_bytes + 1, '\0');
    in.read(v.data(), static_cast<std::streamsize>(v.size()));
    v.resize(static_cast<std::size_t>(in.gcount()));
    if (v.size() > max_bytes) {
        why = fmt::format("{} is larger than {} KiB: not a secret file", file, max_bytes / 1024);
        return std::nullopt;
    }
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) {
        v.pop_back();
    }
    return v;
}
