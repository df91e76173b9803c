// Starts a private PostgreSQL and hie-identity, then runs identity_python_client.py: the wire
// contract checked by a second gRPC implementation (Python grpcio, stubs compiled at test time
// from proto/). Its output is printed; the test passes when the script exits 0.
//
// Needs the Debian packages python3-grpcio (runtime) and protobuf-compiler +
// protobuf-compiler-grpc (protoc, grpc_python_plugin: build dependencies already). Without
// them the test skips, or fails under HIE_TEST_REQUIRE_SERVERS=1 (CI).

#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "tests/e2e/e2e_harness.h"

namespace hie::e2e {
namespace {

// Debian's interpreter first: that is where python3-grpcio installs (a pyenv or venv python3
// first on PATH would not see it).
std::string Python() {
  if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return FindProgram("python3");
}

class PythonClientTest : public E2eTest {};

TEST_F(PythonClientTest, IndependentGrpcImplementationOverMutualTls) {
  std::string missing;
  const std::string python = Python();
  if (python.empty()) {
    missing = "python3";
  } else {
    absl::StatusOr<int> probe =
        RunCommand({python, "-c", "import grpc, google.protobuf"}, nullptr, absl::Seconds(60));
    if (!probe.ok() || *probe != 0) missing = "python3-grpcio (" + python + " cannot import grpc)";
  }
  for (const char* tool : {"protoc", "grpc_python_plugin"}) {
    if (FindProgram(tool).empty()) absl::StrAppend(&missing, missing.empty() ? "" : ", ", tool);
  }
  if (!missing.empty()) {
    if (hie::testing::ServersRequired()) FAIL() << "not installed: " << missing;
    GTEST_SKIP() << "not installed: " << missing;
  }

  StartPostgres(/*fast=*/true);
  IdentityProcess* identity = StartIdentity("identity");
  ASSERT_NE(identity, nullptr);
  std::string out;
  absl::StatusOr<int> code =
      RunCommand({python, "-B", HIE_E2E_PYTHON_CLIENT, "--target",
                  absl::StrCat("127.0.0.1:", identity->grpc_port()), "--certs", HIE_TEST_CERTS_DIR,
                  "--rogue-certs", HIE_TEST_ROGUE_CERTS_DIR, "--proto-dir",
                  std::string(HIE_SOURCE_DIR) + "/proto", "--work-dir", sandbox_->Path("python")},
                 &out, absl::Seconds(150));
  std::cout << out;
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << "identity_python_client.py failed (its output is above)";
}

}  // namespace
}  // namespace hie::e2e
