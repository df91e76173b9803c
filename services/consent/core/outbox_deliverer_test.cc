// The outbox reaches the audit log once audit answers again; a crash between the
// acknowledgement and the marking re-sends the same event ids, which audit records once.

#include "services/consent/core/outbox_deliverer.h"

#include <gtest/gtest.h>

#include "services/common/status_macros.h"
#include "services/consent/core/fakes.h"
#include "services/consent/store/in_memory_consent_store.h"

namespace hie::consent {
namespace {

absl::Status Append(ConsentStore& store, int from, int to) {
  return store.Transact(absl::InfiniteFuture(), [&](ConsentTxn& txn) -> absl::Status {
    for (int i = from; i <= to; ++i) {
      hie::audit::v1::AuditEvent e;
      e.set_event_id("ev-" + std::to_string(i));
      HIE_RETURN_IF_ERROR(txn.AppendOutbox(e));
    }
    return absl::OkStatus();
  });
}

// Sends, then "crashes" before marking (the first `crashes` times).
class CrashBeforeMarking : public InMemoryConsentStore {
 public:
  int crashes = 1;
  absl::StatusOr<size_t> DeliverOutbox(absl::Time deadline, size_t limit,
                                       const SendFn& send) override {
    if (crashes-- > 0) {
      return InMemoryConsentStore::DeliverOutbox(deadline, limit, [&](const auto& rows) {
        HIE_RETURN_IF_ERROR(send(rows));
        return absl::UnknownError("crashed before marking");
      });
    }
    return InMemoryConsentStore::DeliverOutbox(deadline, limit, send);
  }
};

TEST(OutboxDelivererTest, NothingIsLostWhileAuditIsDownAndDeliveryResumesInOrder) {
  InMemoryConsentStore store;
  FakeAuditSink sink;
  OutboxDeliverer deliverer(&store, &sink, /*batch_size=*/2);
  ASSERT_TRUE(Append(store, 1, 5).ok());
  sink.SetFailing(true);
  DeliveryReport down = deliverer.DeliverOnce(absl::Now() + absl::Seconds(5));
  EXPECT_FALSE(down.status.ok());
  EXPECT_EQ(down.delivered, 0u);
  EXPECT_EQ(down.backlog, 5);
  sink.SetFailing(false);
  DeliveryReport up = deliverer.DeliverOnce(absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(up.status.ok()) << up.status;
  EXPECT_EQ(up.delivered, 5u);
  EXPECT_EQ(up.backlog, 0);
  auto recorded = sink.recorded();
  ASSERT_EQ(recorded.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(recorded[i].event_id(), "ev-" + std::to_string(i + 1));
  EXPECT_EQ(sink.received(), 5) << "nothing delivered twice once acknowledged and marked";
  EXPECT_EQ(deliverer.DeliverOnce(absl::Now() + absl::Seconds(5)).delivered, 0u);
}

TEST(OutboxDelivererTest, ACrashBeforeMarkingResendsTheSameEventIds) {
  CrashBeforeMarking store;
  FakeAuditSink sink;
  OutboxDeliverer deliverer(&store, &sink, 10);
  ASSERT_TRUE(Append(store, 1, 3).ok());
  DeliveryReport crashed = deliverer.DeliverOnce(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(crashed.status.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(crashed.backlog, 3);
  DeliveryReport again = deliverer.DeliverOnce(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(again.delivered, 3u);
  EXPECT_EQ(sink.received(), 6) << "sent twice";
  EXPECT_EQ(sink.recorded().size(), 3u) << "recorded once: the event ids were fixed at write";
}

TEST(OutboxDelivererTest, WithoutASinkRowsStayAndTheBacklogIsReported) {
  InMemoryConsentStore store;
  OutboxDeliverer deliverer(&store, nullptr);
  ASSERT_TRUE(Append(store, 1, 2).ok());
  DeliveryReport r = deliverer.DeliverOnce(absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.backlog, 2);
}

}  // namespace
}  // namespace hie::consent
