#pragma once

// ResolveCache on Redis (see core/resolve_cache.h for the promise it keeps with the manager).
//
// Keys, per source record (org + "\x1f" + local id):
//   hie:identity:resolve:<key>      the serialized ResolveResponse, with a PX expiry that ends
//                                   ttl after the Get that preceded the database read
//   hie:identity:resolve-gen:<key>  the record's generation (an integer, absent = 0), kept for
//                                   generation_ttl after its last invalidation
// Get is one MGET of both; Put a Lua script that sets the entry only if the generation is the
// one Get saw; Invalidate a Lua script that deletes the entries and increments the generations.
// Redis errors are swallowed (logged by the client's backoff) and answered as misses; Invalidate
// reports them to the manager. Run Redis without persistence: a restarted Redis must not bring
// back entries an invalidation missed while it was down.

#include "absl/time/time.h"
#include "services/common/redis/redis_client.h"
#include "services/identity/core/resolve_cache.h"
#include "services/identity/store/identity_store.h"

namespace hie::identity {

class RedisResolveCache : public ResolveCache {
 public:
  // `client` must outlive the cache. `generation_ttl` must exceed the longest Resolve (the
  // time between a Get and its Put).
  explicit RedisResolveCache(redis::RedisClient* client, absl::Duration ttl = absl::Seconds(5),
                             absl::Duration generation_ttl = absl::Minutes(10));

  Lookup Get(const SourceId& id) override;
  void Put(const SourceId& id, const Lookup& lookup, const v1::ResolveResponse& response) override;
  absl::Status Invalidate(const std::vector<SourceId>& ids) override;
  bool Unreachable() const override { return client_->ConnectionRefused(); }
  absl::Duration ttl() const override { return ttl_; }

 private:
  redis::RedisClient* client_;
  const absl::Duration ttl_;
  const absl::Duration generation_ttl_;
};

}  // namespace hie::identity
