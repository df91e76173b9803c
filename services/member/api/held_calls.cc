#include "services/member/api/held_calls.h"

#include <vector>

namespace hie::member {

bool HeldCalls::Add(HeldCall* call) {
  std::lock_guard lock(mu_);
  if (released_) return false;
  calls_.insert(call);
  return true;
}

void HeldCalls::Remove(HeldCall* call) {
  std::lock_guard lock(mu_);
  calls_.erase(call);
}

void HeldCalls::ReleaseAll() {
  std::vector<HeldCall*> calls;
  {
    std::lock_guard lock(mu_);
    released_ = true;
    for (HeldCall* call : calls_) {
      call->Ref();
      calls.push_back(call);
    }
  }
  const grpc::Status unavailable(grpc::StatusCode::UNAVAILABLE, "the member is shutting down");
  for (HeldCall* call : calls) {
    call->Release(unavailable);
    call->Unref();
  }
}

size_t HeldCalls::size() const {
  std::lock_guard lock(mu_);
  return calls_.size();
}

}  // namespace hie::member
