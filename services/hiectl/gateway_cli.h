#pragma once

// The gRPC side of hiectl's gateway commands (gateway_commands.h), and what they share with
// cli.cc. Each returns the process exit status (0, or the gRPC code's, see commands.h).

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "services/common/config.h"
#include "services/hiectl/commands.h"

namespace hie::hiectl {

// The message as JSON (proto field names).
std::string ToJson(const google::protobuf::Message& message);
// A channel to --target with the session's TLS files; nullptr and *error when they are unusable.
std::shared_ptr<grpc::Channel> MakeChannel(const Config& config, std::string* error);

// outside-records: each member's block as it arrives (--json: each message as a JSON line),
// then the summary. `timeout` is the query's deadline.
int QueryOutsideRecords(const Config& config, OutsideRecordsQuery& query, absl::Duration timeout,
                        bool json, const std::string& request_id);
// retrieve: the content into a temporary file beside --out, renamed over it once the stream
// ended OK and its size and SHA-256 equal the header's; removed otherwise.
int RetrieveToFile(const Config& config, DocumentRetrieval& retrieval, absl::Duration timeout,
                   bool json, const std::string& request_id);

// break-glass: the grant, or the error.
int BreakTheGlass(const Config& config, GlassBreak& glass, absl::Duration timeout, bool json,
                  const std::string& request_id);
// members ...: one AdminGateway call; the member(s) as a table / fields, or JSON.
// patient-consent create|list|revoke: the directive(s), as the consent commands print them.
int CallMemberConsent(const Config& config, MemberConsentCall& call, absl::Duration timeout,
                      bool json, const std::string& request_id);
int CallDirectory(const Config& config, DirectoryCall& call, absl::Duration timeout, bool json,
                  const std::string& request_id);

}  // namespace hie::hiectl
