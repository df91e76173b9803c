#include "services/locator/api/feeds.h"

#include "services/common/logging.h"
#include "services/common/random_id.h"
#include "services/common/status.h"
#include "services/common/status_macros.h"

namespace hie::locator {

namespace idv1 = hie::identity::v1;
namespace regv1 = hie::registry::v1;

std::vector<idv1::IdentityEventType> LocatorIdentityEventTypes() {
  return {idv1::IDENTITY_EVENT_TYPE_RECORD_CREATED, idv1::IDENTITY_EVENT_TYPE_RECORD_UPDATED,
          idv1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED};
}

RegistryFollower::RegistryFollower(LocatorOperations* operations,
                                   std::shared_ptr<grpc::Channel> channel,
                                   RegistryFollowerOptions options)
    : operations_(operations),
      stub_(regv1::DocumentRegistry::NewStub(std::move(channel))),
      options_(options) {}

RegistryFollower::~RegistryFollower() { Stop(); }

void RegistryFollower::Start() {
  thread_ = std::thread([this] { Run(); });
}

void RegistryFollower::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RegistryFollower::Wait(absl::Duration d) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, absl::ToChronoMilliseconds(d), [this] { return stopping_; });
  return !stopping_;
}

void RegistryFollower::Run() {
  absl::Duration pause = absl::ZeroDuration();
  while (Wait(pause)) {
    absl::StatusOr<bool> full = FollowOnce();
    if (full.ok()) {
      pause = *full ? absl::ZeroDuration() : options_.poll;
      continue;
    }
    Log(LogLevel::kWarning, "feed_follow_interrupted",
        {{"feed", "registry"}, {"code", absl::StatusCodeToString(full.status().code())}});
    pause = options_.retry;
  }
}

absl::StatusOr<bool> RegistryFollower::FollowOnce() {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  regv1::ListChangesRequest request;
  request.mutable_context()->set_request_id(RandomId("locator"));
  request.mutable_context()->set_purpose_of_use(
      hie::common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  HIE_ASSIGN_OR_RETURN(*request.mutable_after(), operations_->RegistryPosition(deadline));
  request.set_page_size(options_.page_size);
  regv1::ListChangesResponse page;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  HIE_RETURN_IF_ERROR(FromGrpcStatus(stub_->ListChanges(&ctx, request, &page)));
  if (page.changes().empty()) return false;
  HIE_RETURN_IF_ERROR(operations_->ApplyRegistryChanges(page, deadline));
  return page.changes_size() >= options_.page_size;
}

}  // namespace hie::locator
