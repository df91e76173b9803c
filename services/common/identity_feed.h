#pragma once

// Following identity's history (WatchEvents, over gRPC with mutual TLS) into a service's own
// store, exactly once: the audit log records every event, the locator learns which members
// hold records. The follower reads from the position the sink says it has recorded, hands the
// sink events in batches (up to max_batch, or whatever arrived within flush_after), and the
// sink records each batch together with its last sequence as the new position, in one
// transaction: a restart of either service resumes exactly and records nothing twice. Events
// at or below the position (at-least-once delivery) are dropped before the sink sees them. A
// broken stream or a failed Record is retried after `retry`, from the sink's stored position.
// At most four batches wait in memory: a slow sink holds the stream back (flow control).
// Logs codes and positions only.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/identity/v1/identity.grpc.pb.h"

namespace hie {

class IdentityFeedSink {
 public:
  virtual ~IdentityFeedSink() = default;
  // The sequence recorded through (0 before the first batch).
  virtual absl::StatusOr<int64_t> Position(absl::Time deadline) = 0;
  // Records `batch` (ascending sequences, all above Position) and its last sequence as the new
  // position, atomically.
  virtual absl::Status Record(const std::vector<identity::v1::IdentityEvent>& batch,
                              absl::Time deadline) = 0;
};

struct IdentityFeedOptions {
  size_t max_batch = 500;
  absl::Duration flush_after = absl::Milliseconds(100);
  absl::Duration retry = absl::Seconds(1);
  std::vector<identity::v1::IdentityEventType> types;  // empty = all
  std::string request_id_prefix = "feed";              // "<prefix>-<16 hex>"
  std::string name = "identity";                       // in log events
};

class IdentityFeedFollower {
 public:
  // `sink` must outlive the follower.
  IdentityFeedFollower(IdentityFeedSink* sink, std::shared_ptr<grpc::Channel> channel,
                       IdentityFeedOptions options = {});
  ~IdentityFeedFollower();
  void Start();
  // Cancels the stream and waits for the thread; what was recorded stays recorded.
  void Stop();
  // The identity sequence recorded through, as last known (0 before the first batch).
  int64_t position() const { return position_.load(); }

 private:
  void Run();
  absl::Status FollowOnce();
  absl::Status Flush(std::vector<identity::v1::IdentityEvent>* batch);

  IdentityFeedSink* const sink_;
  std::unique_ptr<identity::v1::IdentityService::Stub> stub_;
  const IdentityFeedOptions options_;
  std::thread thread_;
  std::atomic<bool> stopping_ = false;
  std::atomic<int64_t> position_ = 0;
  std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;  // the open stream's, for Stop
};

}  // namespace hie
