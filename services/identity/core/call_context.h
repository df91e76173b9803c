#pragma once

// Who is asking and until when, and the clock the identity rules read: shared by the rules'
// files (identity_manager.h and the operations in txn_ops.h).

#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "hie/common/v1/common.pb.h"

namespace hie::identity {

// Who is asking, and until when. The API fills actor from the caller's certificate (or, for
// hub services, from the request context).
struct CallContext {
  hie::common::v1::Actor actor;
  std::string request_id;
  absl::Time deadline = absl::InfiniteFuture();
};

// Time source, injected so tests control it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};
class SystemClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace hie::identity
