#pragma once

// Calls a fault (hang, black hole) holds open without a thread: each is a callback reactor that
// finishes when the client cancels or its deadline passes (OnCancel), when the server cancels it
// at shutdown, or when ReleaseAll finishes every held call at once (a drain hook, so that a
// SIGTERM need not wait out --drain-timeout).
//
// Lifetime: a HeldCall is reference counted. gRPC holds the first reference until OnDone (which
// calls Unref); ReleaseAll takes one while it releases a call, so a call finishing at the same
// moment is never deleted under it; a reactor's own alarm takes one until its callback returns
// (the library does not wait for alarms before OnDone). Thread-safe.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <mutex>
#include <set>

namespace hie::member {

class HeldCall {
 public:
  // Finishes the call with `status` unless it has finished already. Thread-safe.
  virtual void Release(const grpc::Status& status) = 0;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 protected:
  virtual ~HeldCall() = default;

 private:
  std::atomic<int> refs_{1};
};

class HeldCalls {
 public:
  // Tracks `call`; false once ReleaseAll ran (the caller then releases the call itself).
  bool Add(HeldCall* call);
  // Stops tracking `call` (from its OnDone, before its last Unref).
  void Remove(HeldCall* call);
  // Releases every tracked call with UNAVAILABLE, and makes Add refuse from now on.
  void ReleaseAll();
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::set<HeldCall*> calls_;
  bool released_ = false;
};

}  // namespace hie::member
