#pragma once

// The member's feed to the hub (hie.gateway.v1.MemberGateway): every patient with FeedPatient,
// then every document's metadata with PublishDocuments, as a member's integration engine does
// when it joins the HIE or restarts.
//
// - Order: all patients first (a publication naming a patient the hub never heard of is
//   NOT_FOUND), in the store's order; then, per patient, its documents sorted by unique_id in
//   submission sets of at most `batch_size` entries (one patient per set, as in XDS). Documents
//   of a patient whose feed failed are skipped.
// - Idempotency keys are derived from the content sent (org, local id and demographics; the
//   set's entries' unique ids and hashes), so a restart sends the same keys for the same data and
//   the hub answers from its record instead of applying anything twice; changed data gets a new
//   key. A submission set's unique_id is derived the same way. Registering an identical entry
//   again is a no-op at the registry.
// - Each call has `call_timeout`; UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED
//   and UNKNOWN are retried with the same key, with exponential backoff and jitter (seeded),
//   up to `max_attempts` calls; other errors are final for that patient or set (logged,
//   counted) and the feed goes on.
// - The registry's entry uuids answered by PublishDocuments are recorded in the store, so
//   FindDocuments answers carry them.
// - Logs carry rpc, code, attempt and idempotency key only: never a local id (an MRN) or
//   demographics.
// The caller is the member's client certificate (O = its org); requests carry a ClientContext
// with purpose OPERATIONS and role MEMBER_SYSTEM.
//
// Thread-safety: Run blocks its caller; Stop may be called from any thread and ends Run soon
// (an in-flight call is cancelled, a backoff cut short).

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "hie/gateway/v1/gateway.grpc.pb.h"
#include "services/member/core/member_data.h"

namespace hie::member {

struct HubFeedOptions {
  absl::Duration call_timeout = absl::Seconds(10);
  int max_attempts = 6;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(10);
  size_t batch_size = 10;  // 1..10 entries per PublishDocuments
  uint64_t seed = 1;       // backoff jitter
  std::string request_id_prefix = "member-feed";
};

struct HubFeedResult {
  size_t patients_fed = 0;
  size_t patients_failed = 0;
  size_t documents_published = 0;
  size_t documents_failed = 0;
  size_t documents_skipped = 0;  // their patient's feed failed
  size_t calls = 0;              // every attempt
  bool stopped = false;
};

class HubFeed {
 public:
  // `store` and `hub` must outlive the feed.
  HubFeed(MemberStore* store, std::shared_ptr<grpc::Channel> hub, HubFeedOptions options = {});
  ~HubFeed();  // stops and joins a started feed

  HubFeedResult Run();
  // Run on a thread of its own; Join waits for it and answers its result.
  void Start();
  HubFeedResult Join();
  void Stop();

  // The requests and keys Run sends (exposed for tests).
  static gateway::v1::FeedPatientRequest FeedRequestOf(const std::string& org,
                                                       const MemberPatient& patient);
  static std::vector<gateway::v1::PublishDocumentsRequest> PublishRequestsOf(
      const MemberStore& store, const std::string& local_id, size_t batch_size);

 private:
  // Calls `rpc` until it succeeds, fails for good, or the feed stops; `what` names it in logs.
  template <typename Request, typename Response, typename Rpc>
  grpc::Status CallWithRetries(const char* what, const Request& request, Response* response,
                               Rpc rpc, HubFeedResult* result);
  bool SleepUnlessStopped(absl::Duration pause);
  bool Stopped();

  MemberStore* const store_;
  const std::unique_ptr<gateway::v1::MemberGateway::Stub> stub_;
  const HubFeedOptions options_;

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  grpc::ClientContext* in_flight_ = nullptr;
  uint64_t draws_ = 0;
  std::thread thread_;
  HubFeedResult result_;
};

}  // namespace hie::member
