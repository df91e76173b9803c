#include "services/identity/store/redis_resolve_cache.h"

#include "absl/strings/str_cat.h"
#include "services/identity/store/identity_store.h"

namespace hie::identity {
namespace {

std::string EntryKey(const SourceId& id) { return "hie:identity:resolve:" + RecordKey(id); }
std::string GenerationKey(const SourceId& id) {
  return "hie:identity:resolve-gen:" + RecordKey(id);
}

// KEYS: entry, generation. ARGV: expected generation, value, PX milliseconds.
constexpr char kPutScript[] = R"lua(
local generation = redis.call('GET', KEYS[2]) or '0'
if generation ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
)lua";

// KEYS: entry1, generation1, entry2, generation2, ... ARGV: generation PX milliseconds.
constexpr char kInvalidateScript[] = R"lua(
for i = 1, #KEYS, 2 do
  redis.call('DEL', KEYS[i])
  redis.call('INCR', KEYS[i + 1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[1])
end
return #KEYS / 2
)lua";

}  // namespace

RedisResolveCache::RedisResolveCache(redis::RedisClient* client, absl::Duration ttl,
                                     absl::Duration generation_ttl)
    : client_(client), ttl_(ttl), generation_ttl_(generation_ttl) {}

ResolveCache::Lookup RedisResolveCache::Get(const SourceId& id) {
  Lookup lookup;
  lookup.looked_up = absl::Now();
  absl::StatusOr<redis::RedisReply> reply =
      client_->Command({"MGET", EntryKey(id), GenerationKey(id)});
  if (!reply.ok() || reply->type != redis::RedisReply::Type::kArray ||
      reply->elements.size() != 2) {
    return lookup;
  }
  const redis::RedisReply& entry = reply->elements[0];
  const redis::RedisReply& generation = reply->elements[1];
  lookup.generation =
      generation.type == redis::RedisReply::Type::kString ? generation.str : std::string("0");
  if (entry.type == redis::RedisReply::Type::kString) {
    v1::ResolveResponse response;
    if (response.ParseFromString(entry.str)) lookup.hit = std::move(response);
  }
  return lookup;
}

void RedisResolveCache::Put(const SourceId& id, const Lookup& lookup,
                            const v1::ResolveResponse& response) {
  if (!lookup.generation.has_value()) return;
  const int64_t left_ms = absl::ToInt64Milliseconds(ttl_ - (absl::Now() - lookup.looked_up));
  if (left_ms <= 0) return;
  (void)client_->Command({"EVAL", kPutScript, "2", EntryKey(id), GenerationKey(id),
                          *lookup.generation, response.SerializeAsString(), absl::StrCat(left_ms)});
}

absl::Status RedisResolveCache::Invalidate(const std::vector<SourceId>& ids) {
  if (ids.empty()) return absl::OkStatus();
  std::vector<std::string> args{"EVAL", kInvalidateScript, absl::StrCat(ids.size() * 2)};
  for (const SourceId& id : ids) {
    args.push_back(EntryKey(id));
    args.push_back(GenerationKey(id));
  }
  args.push_back(absl::StrCat(absl::ToInt64Milliseconds(generation_ttl_)));
  return client_->Command(args).status();
}

}  // namespace hie::identity
