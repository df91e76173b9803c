#pragma once

// ResolveCache on Redis: one key per source record ("hie:identity:resolve:" + org + "\x1f" +
// local id) holding the serialized ResolveResponse, with a TTL that bounds how long another
// replica's stale fill can survive. Every Redis error is swallowed (logged once per burst by
// the client's backoff) and answered as a miss, so the service works, slower, with Redis down.

#include "absl/time/time.h"
#include "services/common/redis/redis_client.h"
#include "services/identity/core/resolve_cache.h"
#include "services/identity/store/identity_store.h"

namespace hie::identity {

class RedisResolveCache : public ResolveCache {
 public:
  // `client` must outlive the cache.
  RedisResolveCache(redis::RedisClient* client, absl::Duration ttl = absl::Seconds(60));

  std::optional<v1::ResolveResponse> Get(const SourceId& id) override;
  void Put(const SourceId& id, const v1::ResolveResponse& response) override;
  void Invalidate(const std::vector<SourceId>& ids) override;

 private:
  redis::RedisClient* client_;
  absl::Duration ttl_;
};

}  // namespace hie::identity
