#pragma once

// Who a caller is, as its verified client certificate says (services/common/tls.h reads it:
// PeerIdentityOf). Plain data, so that pure cores can take it without gRPC.
//
// Certificate subject convention (scripts/gen-certs.sh issues certificates this way):
//   O  = organisation id     ("clinic-a", "hie-operations", "hie")
//   OU = role                ("member", "operator", "auditor", "admin", "service")
//   CN = a name for the holder ("clinic-a-emr", "identity", "operator")

#include <string>

namespace hie {

struct PeerIdentity {
  std::string org;          // subject O
  std::string role;         // subject OU
  std::string common_name;  // subject CN
};

}  // namespace hie
