#include "services/common/redis/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace hie::redis {
namespace {

RedisReply Convert(const redisReply* reply) {
  RedisReply out;
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kString;
      out.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < reply->elements; ++i) out.elements.push_back(Convert(reply->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

}  // namespace

void RedisClient::ContextDeleter::operator()(redisContext* c) const { redisFree(c); }

RedisClient::RedisClient(RedisOptions options) : options_(std::move(options)) {}
RedisClient::~RedisClient() = default;

absl::StatusOr<RedisClient::ContextPtr> RedisClient::Connect() {
  {
    // No backoff after a refusal: it costs one round trip, and ConnectionRefused() must say
    // whether the server is down now, not whether it was when the backoff began.
    std::lock_guard lock(mu_);
    if (absl::Now() < next_connect_allowed_ && !refused_.load()) {
      return absl::UnavailableError("redis unavailable (backing off)");
    }
  }
  bool refused = false;
  absl::StatusOr<ContextPtr> context = options_.sentinels.empty()
                                           ? Dial(options_.host, options_.port, &refused)
                                           : DialMaster(&refused);
  if (!context.ok()) {
    refused_.store(refused);
    std::lock_guard lock(mu_);
    next_connect_allowed_ = absl::Now() + options_.reconnect_backoff;
    return context.status();
  }
  refused_.store(false);
  return context;
}

absl::StatusOr<RedisClient::ContextPtr> RedisClient::Dial(const std::string& host, int port,
                                                          bool* refused) {
  ContextPtr context(
      redisConnectWithTimeout(host.c_str(), port, absl::ToTimeval(options_.connect_timeout)));
  if (context == nullptr || context->err != 0 ||
      redisSetTimeout(context.get(), absl::ToTimeval(options_.command_timeout)) != REDIS_OK) {
    *refused = context != nullptr && context->err == REDIS_ERR_IO &&
               std::string_view(context->errstr).find("refused") != std::string_view::npos;
    return absl::UnavailableError(absl::StrCat("cannot connect to redis at ", host, ":", port));
  }
  return context;
}

absl::StatusOr<RedisClient::ContextPtr> RedisClient::DialMaster(bool* refused) {
  // Refused only when a sentinel named a master and that master refused: then no client can
  // reach the cache (all ask the same sentinels). Unreachable sentinels say nothing about it.
  for (const RedisOptions::Address& sentinel_address : options_.sentinels) {
    bool ignored = false;
    absl::StatusOr<ContextPtr> sentinel =
        Dial(sentinel_address.host, sentinel_address.port, &ignored);
    if (!sentinel.ok()) continue;
    bool io_error = false;
    absl::StatusOr<RedisReply> named = RunOn(
        sentinel->get(), {"SENTINEL", "get-master-addr-by-name", options_.master_name}, &io_error);
    int port = 0;
    if (!named.ok() || named->type != RedisReply::Type::kArray || named->elements.size() != 2 ||
        !absl::SimpleAtoi(named->elements[1].str, &port)) {
      continue;
    }
    bool master_refused = false;
    absl::StatusOr<ContextPtr> master = Dial(named->elements[0].str, port, &master_refused);
    *refused = *refused || master_refused;
    if (!master.ok()) continue;
    absl::StatusOr<RedisReply> role = RunOn(master->get(), {"ROLE"}, &io_error);
    if (role.ok() && role->type == RedisReply::Type::kArray && !role->elements.empty() &&
        role->elements[0].str == "master") {
      *refused = false;
      return master;
    }
  }
  return absl::UnavailableError(
      absl::StrCat("no redis sentinel named a reachable master of ", options_.master_name));
}

absl::StatusOr<RedisReply> RedisClient::RunOn(redisContext* context,
                                              const std::vector<std::string>& args,
                                              bool* io_error) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context, static_cast<int>(args.size()), argv.data(), lengths.data()));
  if (reply == nullptr) {
    *io_error = true;
    return absl::UnavailableError("redis connection error or timeout");
  }
  std::unique_ptr<redisReply, void (*)(void*)> owned(reply, freeReplyObject);
  if (reply->type == REDIS_REPLY_ERROR) {
    // Error replies name the command's problem (WRONGTYPE, ...), never values.
    return absl::FailedPreconditionError(
        absl::StrCat("redis error: ", absl::string_view(reply->str, reply->len)));
  }
  return Convert(reply);
}

absl::StatusOr<RedisReply> RedisClient::Command(const std::vector<std::string>& args) {
  if (args.empty()) return absl::InvalidArgumentError("empty redis command");
  for (int attempt = 0; attempt < 2; ++attempt) {
    ContextPtr context;
    bool reused = false;
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        context = std::move(idle_.back());
        idle_.pop_back();
        reused = true;
      }
    }
    if (context == nullptr) {
      absl::StatusOr<ContextPtr> fresh = Connect();
      if (!fresh.ok()) return fresh.status();
      context = *std::move(fresh);
    }
    bool io_error = false;
    absl::StatusOr<RedisReply> reply = RunOn(context.get(), args, &io_error);
    if (io_error) {
      if (reused) continue;  // a stale connection from before a restart: one fresh try
      return reply.status();
    }
    // A master demoted by a failover answers writes READONLY: once more, on a new connection
    // (with sentinels, to the new master).
    if (attempt == 0 && !reply.ok() && absl::StrContains(reply.status().message(), "READONLY")) {
      std::lock_guard lock(mu_);
      idle_.clear();  // they all lead to the demoted server
      continue;
    }
    if (reply.ok()) {
      std::lock_guard lock(mu_);
      if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(context));
    }
    return reply;
  }
  return absl::UnavailableError("redis connection error");
}

absl::StatusOr<std::optional<std::string>> RedisClient::Get(const std::string& key) {
  absl::StatusOr<RedisReply> reply = Command({"GET", key});
  if (!reply.ok()) return reply.status();
  if (reply->type == RedisReply::Type::kNil) return std::optional<std::string>();
  return std::optional<std::string>(std::move(reply->str));
}

absl::Status RedisClient::Set(const std::string& key, const std::string& value,
                              absl::Duration ttl) {
  std::vector<std::string> args{"SET", key, value};
  if (ttl > absl::ZeroDuration()) {
    args.push_back("PX");
    args.push_back(absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl))));
  }
  return Command(args).status();
}

absl::StatusOr<int64_t> RedisClient::Del(const std::vector<std::string>& keys) {
  std::vector<std::string> args{"DEL"};
  args.insert(args.end(), keys.begin(), keys.end());
  absl::StatusOr<RedisReply> reply = Command(args);
  if (!reply.ok()) return reply.status();
  return reply->integer;
}

absl::StatusOr<int64_t> RedisClient::Publish(const std::string& channel,
                                             const std::string& message) {
  absl::StatusOr<RedisReply> reply = Command({"PUBLISH", channel, message});
  if (!reply.ok()) return reply.status();
  return reply->integer;
}

}  // namespace hie::redis
