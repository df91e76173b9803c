#include "services/identity/store/redis_resolve_cache.h"

#include "services/identity/store/identity_store.h"

namespace hie::identity {
namespace {

std::string CacheKey(const SourceId& id) { return "hie:identity:resolve:" + RecordKey(id); }

}  // namespace

RedisResolveCache::RedisResolveCache(redis::RedisClient* client, absl::Duration ttl)
    : client_(client), ttl_(ttl) {}

std::optional<v1::ResolveResponse> RedisResolveCache::Get(const SourceId& id) {
  absl::StatusOr<std::optional<std::string>> value = client_->Get(CacheKey(id));
  if (!value.ok() || !value->has_value()) return std::nullopt;
  v1::ResolveResponse response;
  if (!response.ParseFromString(**value)) return std::nullopt;
  return response;
}

void RedisResolveCache::Put(const SourceId& id, const v1::ResolveResponse& response) {
  (void)client_->Set(CacheKey(id), response.SerializeAsString(), ttl_);
}

void RedisResolveCache::Invalidate(const std::vector<SourceId>& ids) {
  if (ids.empty()) return;
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (const SourceId& id : ids) keys.push_back(CacheKey(id));
  // A failed delete leaves entries to expire by TTL; nothing more can be done without Redis.
  (void)client_->Del(keys);
}

}  // namespace hie::identity
