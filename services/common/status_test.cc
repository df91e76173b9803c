#include "services/common/status.h"

#include <gtest/gtest.h>

namespace hie {
namespace {

struct CodePair {
  absl::StatusCode absl_code;
  grpc::StatusCode grpc_code;
};

class StatusMappingTest : public ::testing::TestWithParam<CodePair> {};

TEST_P(StatusMappingTest, RoundTripsCodeAndMessage) {
  const CodePair& pair = GetParam();
  absl::Status status(pair.absl_code, "field 'org' is required");
  grpc::Status grpc_status = ToGrpcStatus(status);
  EXPECT_EQ(grpc_status.error_code(), pair.grpc_code);
  EXPECT_EQ(grpc_status.error_message(), "field 'org' is required");
  absl::Status back = FromGrpcStatus(grpc_status);
  EXPECT_EQ(back.code(), pair.absl_code);
  EXPECT_EQ(back.message(), "field 'org' is required");
}

INSTANTIATE_TEST_SUITE_P(
    AllCodes, StatusMappingTest,
    ::testing::Values(
        CodePair{absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
        CodePair{absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
        CodePair{absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
        CodePair{absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
        CodePair{absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
        CodePair{absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
        CodePair{absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
        CodePair{absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
        CodePair{absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
        CodePair{absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
        CodePair{absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
        CodePair{absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
        CodePair{absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
        CodePair{absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
        CodePair{absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
        CodePair{absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED}));

TEST(StatusMappingTest, OkIsOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(StatusMappingTest, CodeOutsideTheEnumBecomesUnknown) {
  absl::Status odd(static_cast<absl::StatusCode>(42), "odd");
  EXPECT_EQ(ToGrpcStatus(odd).error_code(), grpc::StatusCode::UNKNOWN);
  // grpc::StatusCode has no fixed underlying type and spans -1..16, so its
  // valid values are -32..31: 20 is a code no enumerator names that a peer
  // could still send, and holding it is defined behaviour (99 would not be).
  grpc::Status odd_grpc(static_cast<grpc::StatusCode>(20), "odd");
  EXPECT_EQ(FromGrpcStatus(odd_grpc).code(), absl::StatusCode::kUnknown);
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  HIE_ASSIGN_OR_RETURN(int half, Half(x));
  HIE_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int x) {
  HIE_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

}  // namespace
}  // namespace hie
