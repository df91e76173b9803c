#pragma once

// Port of the cache of Resolve answers (PIX cross-references), keyed by source record, shared by
// every replica of the identity service.
//
// The cache is an optimisation only: a miss, an error or an unreachable cache means "ask the
// database", never a failure. Its one promise, kept with the identity manager, is that no
// replica serves a stale answer once a write that changed it has been acknowledged:
//  - every entry carries a generation: Invalidate moves the generations of its records on, and
//    Put stores an answer only if the record's generation is still the one its Get saw (so an
//    answer read from the database before a write committed is never stored after the write's
//    invalidation);
//  - an entry lives at most ttl() after the Get that preceded the database read it holds, so
//    when an invalidation cannot be made (the cache refuses writes, times out), waiting ttl()
//    (plus a margin) after the commit is enough for every stale entry to be gone. The manager
//    does that wait before acknowledging (identity_manager.h).

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "hie/identity/v1/identity.pb.h"

namespace hie::identity {

class ResolveCache {
 public:
  struct Lookup {
    std::optional<hie::identity::v1::ResolveResponse> hit;
    // The record's generation when looked up; nullopt: do not fill (the cache did not answer).
    std::optional<std::string> generation;
    absl::Time looked_up;  // real time of the lookup, which bounds the entry's life
  };

  virtual ~ResolveCache() = default;
  virtual Lookup Get(const hie::common::v1::SourceId& id) = 0;
  // Stores `response` (read from the database after `lookup`) unless the record was invalidated
  // since; the entry expires ttl() after lookup.looked_up.
  virtual void Put(const hie::common::v1::SourceId& id, const Lookup& lookup,
                   const hie::identity::v1::ResolveResponse& response) = 0;
  // Drops the entries of `ids` and moves their generations on. An error means entries may
  // remain until they expire.
  virtual absl::Status Invalidate(const std::vector<hie::common::v1::SourceId>& ids) = 0;
  // True when the cache cannot be read by anyone right now (its server refuses connections), so
  // a failed invalidation leaves nothing that could be served.
  virtual bool Unreachable() const { return false; }
  virtual absl::Duration ttl() const = 0;
};

}  // namespace hie::identity
