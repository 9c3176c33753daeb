// Throwaway certificates made in-process: a CA and leaf certificates it signs, as PEM text.
// The built-in server makes its certificate at start with these, and the tests make valid,
// expired, wrongly named and foreign-CA certificates without calling out to any tool.
// These keys are for loopback peers; nothing here is meant for a production server.
#pragma once

#include "engine/result.h"

#include <cstdint>
#include <string>
#include <vector>

namespace engine {

struct pem_identity {
    std::string cert;   // the certificate (a leaf: followed by nothing; the CA is separate)
    std::string key;    // its private key (PKCS#8 PEM)
};

struct cert_request {
    std::string common_name;
    std::vector<std::string> dns_names;   // subjectAltName DNS entries
    std::vector<std::string> ip_addresses;  // subjectAltName IP entries (literals)
    std::int64_t not_before = 0;          // unix seconds; 0: an hour ago
    std::int64_t not_after = 0;           // unix seconds; 0: 30 days from now
};

/// A self-signed CA certificate (EC P-256) valid from an hour ago for `days`.
result<pem_identity> make_ca(const std::string& common_name, int days = 30);

/// A leaf certificate for `req`, signed by `ca`.
result<pem_identity> issue_cert(const pem_identity& ca, const cert_request& req);

/// A self-signed RSA-2048 certificate for `req` (names ignored but the CN): the kind an Entra ID
/// app registration takes as a client credential, whose key signs RS256 client assertions.
result<pem_identity> make_rsa_self_signed(const cert_request& req);

} // namespace engine
