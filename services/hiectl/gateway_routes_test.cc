// hiectl --gateway: every staff command's request re-encodes as the gateway's field for field.

#include "services/hiectl/gateway_routes.h"

#include <gtest/gtest.h>

#include "services/gateway/core/staff_access.h"

namespace hie::hiectl {
namespace {

template <size_t I = 0>
void ExpectEveryRouteMirrors() {
  constexpr auto& routes = gateway_routes::kRoutes;
  if constexpr (I <
                std::tuple_size_v<std::remove_const_t<std::remove_reference_t<decltype(routes)>>>) {
    using Route = std::remove_cvref_t<decltype(std::get<I>(routes))>;
    const auto& gateway = *Route::GatewayRequest::descriptor();
    const auto& service = *Route::Request::descriptor();
    absl::Status mirrored = hie::gateway::CheckMirror(gateway, service);
    EXPECT_TRUE(mirrored.ok()) << gateway.full_name() << ": " << mirrored;
    ExpectEveryRouteMirrors<I + 1>();
  }
}

TEST(GatewayRoutesTest, EveryRoutedRequestMirrorsTheGatewaysOne) { ExpectEveryRouteMirrors(); }

TEST(GatewayRoutesTest, AStaffRequestKeepsItsFieldsAndTheCertificateSaysWhoCalls) {
  identity::v1::MergePersonsRequest merge;
  merge.mutable_context()->set_request_id("req-7");
  merge.mutable_context()->mutable_actor()->set_user_id("someone-else");
  merge.set_survivor_person_id("p-1");
  merge.set_merged_person_id("p-2");
  merge.set_reason("duplicate");
  merge.set_force(true);
  merge.set_idempotency_key("k-1");
  static_assert(
      kHasGatewayRoute<identity::v1::MergePersonsRequest, identity::v1::MergePersonsResponse>);
  static_assert(!kHasGatewayRoute<identity::v1::RegisterSourceRecordRequest,
                                  identity::v1::RegisterSourceRecordResponse>);
  auto through = ToGatewayRequest<gateway::v1::MergePersonsRequest>(merge);
  ASSERT_TRUE(through.ok()) << through.status();
  EXPECT_EQ(through->survivor_person_id(), "p-1");
  EXPECT_EQ(through->merged_person_id(), "p-2");
  EXPECT_EQ(through->reason(), "duplicate");
  EXPECT_TRUE(through->force());
  EXPECT_EQ(through->idempotency_key(), "k-1");
  EXPECT_EQ(through->context().request_id(), "req-7");
  EXPECT_EQ(through->context().purpose_of_use(), common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  EXPECT_TRUE(through->context().user_id().empty());  // the gateway reads the certificate
}

}  // namespace
}  // namespace hie::hiectl
