#pragma once

// A small member (clinic-a, repository repo-a) for the member's tests:
//   P1: d1 consult note 2020-01-01 (service 2019-12-30..31, practice 394579002, facility F1,
//           event E1, author "Clinic A Cardiology"),
//       d2 lab report 2021-06-01 (no service times, no practice, facility or author),
//       d3 progress note 2022-03-01 labelled PSY (ActCode),
//       d4 discharge summary 2023-01-01, DEPRECATED,
//       d6 referral note 2020-01-01 (same creation time as d1; unique id sorts after d1's);
//   P2: d5 imaging 2018-05-05, application/pdf, 2.5 MiB + 7 bytes of content (3 chunks);
//   P3: no documents.
// Retrieve keys are "key-d1".."key-d6"; unique ids "urn:oid:1.2.3.<n>".

#include <memory>
#include <string>
#include <vector>

#include "hie/member/v1/member.pb.h"
#include "services/member/core/member_data.h"

namespace hie::member::testing {

inline constexpr char kOrg[] = "clinic-a";
inline constexpr char kRepository[] = "repo-a";

MemberData TestData();
std::unique_ptr<MemberStore> TestStore();

common::v1::RequestContext TestContext();
v1::FindDocumentsRequest FindRequest(const std::vector<std::string>& local_ids);
v1::RetrieveDocumentRequest RetrieveRequest(const std::vector<std::string>& local_ids,
                                            const std::string& key);
common::v1::Coding Code(const std::string& system, const std::string& code);

// The unique ids' last parts of `response`'s entries in order, e.g. {"1", "6"}.
std::vector<std::string> Numbers(const v1::FindDocumentsResponse& response);

}  // namespace hie::member::testing
