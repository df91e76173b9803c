#include "services/common/config.h"

#include <gtest/gtest.h>

#include <vector>

namespace hie {
namespace {

const std::vector<ConfigKey> kKeys = {
    {"listen", "127.0.0.1:7001", "address to listen on"},
    {"pg-dsn", "", "PostgreSQL DSN"},
    {"pool-size", "4", "connections"},
    {"timeout", "250ms", "deadline"},
    {"verbose", "false", "more logs"},
};

absl::StatusOr<Config> LoadWith(std::vector<const char*> args, std::vector<const char*> env) {
  args.insert(args.begin(), "prog");
  env.push_back(nullptr);
  return Config::Load(kKeys, static_cast<int>(args.size()), args.data(), env.data());
}

TEST(ConfigTest, DefaultsApplyWhenNothingIsSet) {
  absl::StatusOr<Config> config = LoadWith({}, {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Get("listen"), "127.0.0.1:7001");
  EXPECT_EQ(*config->GetInt("pool-size"), 4);
  EXPECT_EQ(*config->GetDuration("timeout"), absl::Milliseconds(250));
  EXPECT_FALSE(*config->GetBool("verbose"));
}

TEST(ConfigTest, FlagBeatsEnvironmentWhichBeatsDefault) {
  absl::StatusOr<Config> config =
      LoadWith({"--pool-size=9"}, {"HIE_POOL_SIZE=7", "HIE_PG_DSN=host=/tmp dbname=x"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(*config->GetInt("pool-size"), 9);
  EXPECT_EQ(config->Get("pg-dsn"), "host=/tmp dbname=x");
}

TEST(ConfigTest, AcceptsSpaceSeparatedFlagValues) {
  absl::StatusOr<Config> config = LoadWith({"--listen", "0.0.0.0:9"}, {});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->Get("listen"), "0.0.0.0:9");
}

TEST(ConfigTest, RejectsUnknownFlagNamingIt) {
  absl::StatusOr<Config> config = LoadWith({"--pool-sise=3"}, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("pool-sise"), std::string_view::npos);
}

TEST(ConfigTest, RejectsFlagWithoutValueAndPositionalArguments) {
  EXPECT_FALSE(LoadWith({"--listen"}, {}).ok());
  EXPECT_FALSE(LoadWith({"stray"}, {}).ok());
}

TEST(ConfigTest, ASwitchAloneMeansTrueAndNeverTakesTheNextArgument) {
  const std::vector<ConfigKey> keys = {{"listen", "127.0.0.1:7001", "address"},
                                       {"migrate-only", "false", "migrate and exit", true}};
  auto load = [&](std::vector<const char*> args, std::vector<const char*> env) {
    args.insert(args.begin(), "prog");
    env.push_back(nullptr);
    return Config::Load(keys, static_cast<int>(args.size()), args.data(), env.data());
  };
  absl::StatusOr<Config> bare = load({"--migrate-only", "--listen", "0.0.0.0:9"}, {});
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_TRUE(*bare->GetBool("migrate-only"));
  EXPECT_EQ(bare->Get("listen"), "0.0.0.0:9");
  absl::StatusOr<Config> last = load({"--migrate-only"}, {});
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_TRUE(*last->GetBool("migrate-only"));
  absl::StatusOr<Config> off = load({"--migrate-only=false"}, {"HIE_MIGRATE_ONLY=true"});
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(*off->GetBool("migrate-only"));
  absl::StatusOr<Config> env = load({}, {"HIE_MIGRATE_ONLY=true"});
  ASSERT_TRUE(env.ok());
  EXPECT_TRUE(*env->GetBool("migrate-only"));
  // A switch followed by a positional word is still an error, not a value.
  EXPECT_FALSE(load({"--migrate-only", "true"}, {}).ok());
}

TEST(ConfigTest, MalformedValuesAreErrorsNamingTheKey) {
  absl::StatusOr<Config> config =
      LoadWith({"--pool-size=four", "--timeout=soon", "--verbose=maybe"}, {});
  ASSERT_TRUE(config.ok());
  EXPECT_NE(config->GetInt("pool-size").status().message().find("pool-size"), std::string::npos);
  EXPECT_FALSE(config->GetDuration("timeout").ok());
  EXPECT_FALSE(config->GetBool("verbose").ok());
}

TEST(ConfigTest, HostPortSplitsAtTheLastColonAndNamesTheKeyWhenMalformed) {
  absl::StatusOr<Config> config = LoadWith({"--listen=[::1]:7001"}, {});
  ASSERT_TRUE(config.ok());
  absl::StatusOr<Config::HostPort> address = config->GetHostPort("listen");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->host, "[::1]");
  EXPECT_EQ(address->port, 7001);
  for (const char* bad : {"localhost", ":7001", "host:port", "host:70000", "host:-1", ""}) {
    const std::string flag = std::string("--listen=") + bad;
    config = LoadWith({flag.c_str()}, {});
    ASSERT_TRUE(config.ok());
    absl::Status status = config->GetHostPort("listen").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(status.message().find("--listen"), std::string::npos) << bad;
  }
}

TEST(ConfigTest, HostPortListIsCommaSeparatedAndEmptyMeansNone) {
  absl::StatusOr<Config> config = LoadWith({"--listen=s1:26379,10.0.0.2:26380"}, {});
  ASSERT_TRUE(config.ok());
  absl::StatusOr<std::vector<Config::HostPort>> list = config->GetHostPortList("listen");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].host, "s1");
  EXPECT_EQ((*list)[1].port, 26380);
  config = LoadWith({"--listen="}, {});
  EXPECT_TRUE(config->GetHostPortList("listen")->empty());
  for (const char* bad : {"s1:26379,", "s1:26379,,s2:1", "s1"}) {
    config = LoadWith({(std::string("--listen=") + bad).c_str()}, {});
    absl::Status status = config->GetHostPortList("listen").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(status.message().find("--listen"), std::string::npos) << bad;
  }
}

TEST(ConfigTest, HelpIsReportedAndUsageListsEnvironmentNames) {
  absl::StatusOr<Config> config = LoadWith({"--help"}, {});
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->help_requested());
  std::string usage = Config::Usage("svc", kKeys);
  EXPECT_NE(usage.find("HIE_PG_DSN"), std::string::npos);
  EXPECT_NE(usage.find("--pool-size"), std::string::npos);
}

}  // namespace
}  // namespace hie
