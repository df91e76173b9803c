#pragma once

// hiectl --gateway ADDR: the staff commands sent through hie-gateway's OperatorGateway and
// AdminGateway (proto/hie/gateway/v1) instead of to identity, audit and consent directly. The
// gateway's requests mirror the services' ones field for field but for `context` (a
// ClientContext: the certificate says who calls, the purpose is SYSTEM_ADMINISTRATION) and its
// answers are the services' responses; so a command builds the service's request as always and
// ToGatewayRequest re-encodes it (every field but context, by number). Commands without a route
// (members' and services' writes, the locator, the registry, Decide) are refused with --gateway.

#include <grpcpp/grpcpp.h>

#include <tuple>
#include <type_traits>

#include "absl/status/statusor.h"
#include "hie/audit/v1/audit.pb.h"
#include "hie/consent/v1/consent.pb.h"
#include "hie/gateway/v1/gateway.grpc.pb.h"
#include "hie/identity/v1/identity.pb.h"

namespace hie::hiectl {

// The service request `Req` goes to the gateway as `GatewayReq` by `Stub::*send`.
template <typename Req, typename Stub, typename GatewayReq, typename Resp>
struct GatewayRoute {
  using Request = Req;
  using Response = Resp;
  using GatewayRequest = GatewayReq;
  using StubType = Stub;
  grpc::Status (Stub::*send)(grpc::ClientContext*, const GatewayReq&, Resp*);
};

template <typename Req, typename Stub, typename GatewayReq, typename Resp>
constexpr GatewayRoute<Req, Stub, GatewayReq, Resp> Route(
    grpc::Status (Stub::*send)(grpc::ClientContext*, const GatewayReq&, Resp*)) {
  return {send};
}

namespace gateway_routes {
namespace gw = ::hie::gateway::v1;
namespace id = ::hie::identity::v1;
namespace au = ::hie::audit::v1;
namespace co = ::hie::consent::v1;
using Op = gw::OperatorGateway::StubInterface;
using Admin = gw::AdminGateway::StubInterface;

inline constexpr auto kRoutes = std::make_tuple(
    Route<id::ListReviewTasksRequest>(&Op::ListReviewTasks),
    Route<id::GetReviewTaskRequest>(&Op::GetReviewTask),
    Route<id::ResolveReviewTaskRequest>(&Op::ResolveReviewTask),
    Route<id::SearchPersonsRequest>(&Op::SearchPersons),
    Route<id::GetPersonRequest>(&Op::GetPerson),
    Route<id::GetSourceRecordRequest>(&Op::GetSourceRecord),
    Route<id::ResolveRequest>(&Op::Resolve), Route<id::LinkRecordRequest>(&Op::LinkRecord),
    Route<id::UnlinkRecordRequest>(&Op::UnlinkRecord),
    Route<id::MergePersonsRequest>(&Op::MergePersons),
    Route<id::UnmergePersonsRequest>(&Op::UnmergePersons),
    Route<id::GetHistoryRequest>(&Op::GetHistory),
    Route<au::SearchEventsRequest>(&Admin::SearchAuditEvents),
    Route<au::VerifyRequest>(&Admin::VerifyAuditLog),
    Route<au::GetAccountingOfDisclosuresRequest>(&Admin::GetAccountingOfDisclosures),
    Route<au::ListCheckpointsRequest>(&Admin::ListAuditCheckpoints),
    Route<au::ListSigningKeysRequest>(&Admin::ListAuditSigningKeys),
    Route<co::ListBreakGlassGrantsRequest>(&Admin::ListBreakGlassGrants),
    Route<co::ReviewBreakGlassRequest>(&Admin::ReviewBreakGlass),
    Route<co::ListDirectivesRequest>(&Admin::ListConsentDirectives),
    Route<co::GetPolicyRequest>(&Admin::GetConsentPolicy));

template <typename Req, typename Resp, size_t I = 0>
constexpr bool Has() {
  if constexpr (I == std::tuple_size_v<std::remove_const_t<decltype(kRoutes)>>) {
    return false;
  } else {
    using Entry = std::tuple_element_t<I, std::remove_const_t<decltype(kRoutes)>>;
    return (std::is_same_v<typename Entry::Request, Req> &&
            std::is_same_v<typename Entry::Response, Resp>) ||
           Has<Req, Resp, I + 1>();
  }
}

}  // namespace gateway_routes

// Whether the service RPC (Req -> Resp) is offered through the gateway.
template <typename Req, typename Resp>
constexpr bool kHasGatewayRoute = gateway_routes::Has<Req, Resp>();

// Its route (only when kHasGatewayRoute).
template <typename Req, typename Resp, size_t I = 0>
constexpr const auto& GatewayRouteOf() {
  using Entry = std::tuple_element_t<I, std::remove_const_t<decltype(gateway_routes::kRoutes)>>;
  if constexpr (std::is_same_v<typename Entry::Request, Req> &&
                std::is_same_v<typename Entry::Response, Resp>) {
    return std::get<I>(gateway_routes::kRoutes);
  } else {
    return GatewayRouteOf<Req, Resp, I + 1>();
  }
}

// The service request as the gateway's: every field but context copied by number; the context
// keeps the request id and says SYSTEM_ADMINISTRATION (the gateway takes the caller from its
// certificate). INTERNAL if the bytes do not parse (the messages diverged).
template <typename GatewayReq, typename Req>
absl::StatusOr<GatewayReq> ToGatewayRequest(const Req& request) {
  Req copy = request;
  copy.clear_context();
  GatewayReq out;
  if (!out.ParseFromString(copy.SerializeAsString())) {
    return absl::InternalError("the gateway's request does not mirror the service's");
  }
  out.mutable_context()->set_request_id(request.context().request_id());
  out.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  return out;
}

}  // namespace hie::hiectl
