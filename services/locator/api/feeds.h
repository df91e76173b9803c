#pragma once

// The locator's two followed feeds, over gRPC with mutual TLS (as service "locator"):
//   LocatorIdentitySink  where services/common/identity_feed.h's follower applies identity's
//                        record events (created, updated, superseded), batch and position in
//                        one transaction (LocatorOperations::ApplyIdentityEvents).
//   RegistryFollower     pages the registry's ListChanges from the stored position and applies
//                        each page with its position in one transaction
//                        (LocatorOperations::ApplyRegistryChanges): a full page is followed at
//                        once, a short one after `poll`; an error (either side down) is logged
//                        by code and retried after `retry` from the stored position. A restart
//                        of either side resumes exactly; nothing is counted twice.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "hie/registry/v1/registry.grpc.pb.h"
#include "services/common/identity_feed.h"
#include "services/locator/core/locator_operations.h"

namespace hie::locator {

class LocatorIdentitySink : public IdentityFeedSink {
 public:
  explicit LocatorIdentitySink(LocatorOperations* operations) : operations_(operations) {}
  absl::StatusOr<int64_t> Position(absl::Time deadline) override {
    return operations_->IdentityPosition(deadline);
  }
  absl::Status Record(const std::vector<hie::identity::v1::IdentityEvent>& batch,
                      absl::Time deadline) override {
    return operations_->ApplyIdentityEvents(batch, deadline);
  }

 private:
  LocatorOperations* const operations_;
};

// The identity events the locator needs (WatchEventsRequest.types).
std::vector<hie::identity::v1::IdentityEventType> LocatorIdentityEventTypes();

struct RegistryFollowerOptions {
  int page_size = 500;
  absl::Duration poll = absl::Milliseconds(200);
  absl::Duration retry = absl::Seconds(1);
};

class RegistryFollower {
 public:
  RegistryFollower(LocatorOperations* operations, std::shared_ptr<grpc::Channel> channel,
                   RegistryFollowerOptions options = {});
  ~RegistryFollower();
  void Start();
  // Stops after the page in hand; what was applied stays applied.
  void Stop();

 private:
  void Run();
  // One page fetched and applied; whether it was full.
  absl::StatusOr<bool> FollowOnce();
  // Waits `d` unless stopped; false once stopping.
  bool Wait(absl::Duration d);

  LocatorOperations* const operations_;
  std::unique_ptr<hie::registry::v1::DocumentRegistry::Stub> stub_;
  const RegistryFollowerOptions options_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
};

}  // namespace hie::locator
