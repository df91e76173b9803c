#include "services/hiectl/gateway_cli.h"

#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "hie/gateway/v1/gateway.grpc.pb.h"
#include "services/common/status.h"
#include "services/common/text.h"
#include "services/hiectl/directory_commands.h"
#include "services/hiectl/gateway_commands.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

namespace gv1 = ::hie::gateway::v1;

void Prepare(grpc::ClientContext* context, absl::Duration timeout, const std::string& request_id) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context->AddMetadata("x-request-id", request_id);
}

int Failed(const char* rpc, const grpc::Status& status, const std::string& request_id) {
  std::cerr << "hiectl: " << rpc << " failed: " << GrpcCodeName(status.error_code()) << ": "
            << status.error_message() << " (request id " << request_id << ")\n";
  return ExitCodeForGrpcCode(status.error_code());
}

std::unique_ptr<gv1::MemberGateway::Stub> Connect(const Config& config) {
  std::string error;
  std::shared_ptr<grpc::Channel> channel = MakeChannel(config, &error);
  if (channel == nullptr) {
    std::cerr << "hiectl: " << error << "\n";
    return nullptr;
  }
  return gv1::MemberGateway::NewStub(channel);
}

// A unary call's answer `out` of `rpc` printed (as JSON, or as `render` has it) and 0; or, when
// `status` is not OK, the failure.
template <typename Response>
int Answer(const char* rpc, const grpc::Status& status, const Response& out,
           std::string (*render)(const Response&), bool json, const std::string& request_id) {
  if (!status.ok()) return Failed(rpc, status, request_id);
  std::cout << (json ? ToJson(out) + "\n" : PrintableText(render(out), /*keep_newlines=*/true));
  return 0;
}

}  // namespace

int QueryOutsideRecords(const Config& config, OutsideRecordsQuery& query, absl::Duration timeout,
                        bool json, const std::string& request_id) {
  query.request.mutable_context()->set_request_id(request_id);
  std::unique_ptr<gv1::MemberGateway::Stub> stub = Connect(config);
  if (stub == nullptr) return 2;
  grpc::ClientContext context;
  Prepare(&context, timeout, request_id);
  auto reader = stub->FindOutsideRecords(&context, query.request);
  gv1::FindOutsideRecordsResponse message;
  while (reader->Read(&message)) {
    if (json) {
      std::cout << ToJson(message) << "\n";
    } else if (message.has_member_result()) {
      std::cout << RenderMemberResult(message.member_result());
    } else {
      std::cout << RenderQuerySummary(message.summary());
    }
    std::cout.flush();  // each member as it answers
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return Failed("FindOutsideRecords", status, request_id);
  return 0;
}

int RetrieveToFile(const Config& config, DocumentRetrieval& retrieval, absl::Duration timeout,
                   bool json, const std::string& request_id) {
  retrieval.request.mutable_context()->set_request_id(request_id);
  std::unique_ptr<gv1::MemberGateway::Stub> stub = Connect(config);
  if (stub == nullptr) return 2;
  const std::string partial = retrieval.out + ".partial";
  std::ofstream file(partial, std::ios::binary | std::ios::trunc);
  if (!file) {
    std::cerr << "hiectl: cannot write " << PrintableText(partial) << "\n";
    return 2;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  grpc::ClientContext context;
  Prepare(&context, timeout, request_id);
  auto reader = stub->RetrieveDocument(&context, retrieval.request);
  member::v1::RetrieveDocumentResponse message;
  member::v1::DocumentHeader header;
  int64_t size = 0;
  while (reader->Read(&message)) {
    if (message.has_header()) {
      header = message.header();
      continue;
    }
    size += static_cast<int64_t>(message.chunk().size());
    EVP_DigestUpdate(sha.get(), message.chunk().data(), message.chunk().size());
    file.write(message.chunk().data(), static_cast<std::streamsize>(message.chunk().size()));
  }
  grpc::Status status = reader->Finish();
  file.close();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_DigestFinal_ex(sha.get(), digest, &digest_size);
  const bool sha256 = header.hash().algorithm() == registry::ContentHash::ALGORITHM_SHA256;
  if (status.ok() && (!file || size != header.size_bytes() ||
                      (sha256 && header.hash().digest() !=
                                     std::string(reinterpret_cast<char*>(digest), digest_size)))) {
    status = grpc::Status(grpc::StatusCode::DATA_LOSS,
                          "the content differs from its header's size or SHA-256");
  }
  if (!status.ok() || std::rename(partial.c_str(), retrieval.out.c_str()) != 0) {
    std::remove(partial.c_str());
    if (status.ok()) status = grpc::Status(grpc::StatusCode::INTERNAL, "cannot rename the file");
    return Failed("RetrieveDocument", status, request_id);
  }
  if (json) {
    std::cout << ToJson(header) << "\n";
  } else {
    std::cout << KeyValues({{"document", header.unique_id()},
                            {"type", header.mime_type()},
                            {"size", absl::StrCat(size, " bytes (as the header says)")},
                            {"sha-256", absl::StrCat(Hex(header.hash().digest()), " (checked)")},
                            {"written to", retrieval.out}});
  }
  return 0;
}

int BreakTheGlass(const Config& config, GlassBreak& glass, absl::Duration timeout, bool json,
                  const std::string& request_id) {
  glass.request.mutable_context()->set_request_id(request_id);
  if (glass.request.idempotency_key().empty()) glass.request.set_idempotency_key(request_id);
  std::unique_ptr<gv1::MemberGateway::Stub> stub = Connect(config);
  if (stub == nullptr) return 2;
  grpc::ClientContext context;
  Prepare(&context, timeout, request_id);
  gv1::BreakGlassResponse grant;
  grpc::Status status = stub->BreakGlass(&context, glass.request, &grant);
  if (!status.ok()) return Failed("BreakGlass", status, request_id);
  std::cout << (json ? ToJson(grant) + "\n"
                     : PrintableText(RenderBreakGlass(grant, glass.request.local_id(),
                                                      glass.request.context().user_id()),
                                     /*keep_newlines=*/true));
  return 0;
}

int CallDirectory(const Config& config, DirectoryCall& call, absl::Duration timeout, bool json,
                  const std::string& request_id) {
  std::string error;
  std::shared_ptr<grpc::Channel> channel = MakeChannel(config, &error);
  if (channel == nullptr) {
    std::cerr << "hiectl: " << error << "\n";
    return 2;
  }
  std::unique_ptr<gv1::AdminGateway::Stub> stub = gv1::AdminGateway::NewStub(channel);
  grpc::ClientContext context;
  Prepare(&context, timeout, request_id);
  return std::visit(
      [&](auto& request) -> int {
        request.mutable_context()->set_request_id(request_id);
        using Request = std::decay_t<decltype(request)>;
        if constexpr (std::is_same_v<Request, gv1::ListMembersRequest>) {
          gv1::ListMembersResponse out;
          return Answer("ListMembers", stub->ListMembers(&context, request, &out), out,
                        RenderMembers, json, request_id);
        } else if constexpr (std::is_same_v<Request, gv1::GetMemberRequest>) {
          gv1::Member out;
          return Answer("GetMember", stub->GetMember(&context, request, &out), out, RenderMember,
                        json, request_id);
        } else if constexpr (std::is_same_v<Request, gv1::PutMemberRequest>) {
          gv1::Member out;
          return Answer("PutMember", stub->PutMember(&context, request, &out), out, RenderMember,
                        json, request_id);
        } else {
          gv1::Member out;
          return Answer("SetMemberState", stub->SetMemberState(&context, request, &out), out,
                        RenderMember, json, request_id);
        }
      },
      call.request);
}

int CallMemberConsent(const Config& config, MemberConsentCall& call, absl::Duration timeout,
                      bool json, const std::string& request_id) {
  std::unique_ptr<gv1::MemberGateway::Stub> stub = Connect(config);
  if (stub == nullptr) return 2;
  grpc::ClientContext context;
  Prepare(&context, timeout, request_id);
  return std::visit(
      [&](auto& request) -> int {
        request.mutable_context()->set_request_id(request_id);
        using Request = std::decay_t<decltype(request)>;
        if constexpr (std::is_same_v<Request, gv1::ListConsentDirectivesRequest>) {
          consent::ListDirectivesResponse out;
          return Answer("ListConsentDirectives",
                        stub->ListConsentDirectives(&context, request, &out), out, RenderDirectives,
                        json, request_id);
        } else {
          if (request.idempotency_key().empty()) request.set_idempotency_key(request_id);
          consent::ConsentDirective out;
          if constexpr (std::is_same_v<Request, gv1::CreateConsentDirectiveRequest>) {
            return Answer("CreateConsentDirective",
                          stub->CreateConsentDirective(&context, request, &out), out,
                          RenderDirective, json, request_id);
          } else {
            return Answer("RevokeConsentDirective",
                          stub->RevokeConsentDirective(&context, request, &out), out,
                          RenderDirective, json, request_id);
          }
        }
      },
      call.request);
}

}  // namespace hie::hiectl
