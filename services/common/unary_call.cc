#include "services/common/unary_call.h"

#include "services/common/random_id.h"
#include "services/common/server.h"
#include "services/common/status.h"
#include "services/common/tls.h"

namespace hie {

absl::StatusOr<UnaryCall> BeginUnaryCall(const grpc::CallbackServerContext& ctx,
                                         const std::string& context_request_id,
                                         absl::Duration timeout, const char* id_prefix) {
  auto auth = ctx.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("no client certificate");
  absl::StatusOr<PeerIdentity> peer = PeerIdentityOf(*auth);
  if (!peer.ok()) return peer.status();
  UnaryCall call;
  call.peer = *std::move(peer);
  call.request_id = context_request_id;
  if (call.request_id.empty()) call.request_id = RequestIdOf(ctx);
  if (call.request_id.empty()) call.request_id = RandomId(id_prefix);
  call.deadline = std::min(absl::FromChrono(ctx.deadline()), absl::Now() + timeout);
  return call;
}

void FinishUnary(grpc::ServerUnaryReactor* reactor, const absl::Status& status) {
  reactor->Finish(ToGrpcStatus(status));
}

}  // namespace hie
