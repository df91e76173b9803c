#include "services/member/core/test_data.h"

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "services/common/proto_time.h"
#include "services/registry/core/categories.h"

namespace hie::member::testing {
namespace {

using registry::v1::DocumentEntry;

void At(int y, int m, int d, google::protobuf::Timestamp* out) {
  SetTimestamp(absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone()), out);
}

MemberDocument Doc(int n, const std::string& patient, const char* loinc, int y, int m, int d) {
  MemberDocument doc;
  DocumentEntry& e = doc.entry;
  e.set_unique_id(absl::StrCat("urn:oid:1.2.3.", n));
  e.mutable_patient()->set_local_id(patient);
  *e.mutable_class_code() = Code(registry::kLoincSystem, loinc);
  *e.mutable_type_code() = Code(registry::kLoincSystem, loinc);
  *e.mutable_format_code() = Code("urn:oid:1.3.6.1.4.1.19376.1.2.3", "urn:ihe:pcc:xphr:2007");
  e.set_mime_type("text/plain");
  *e.add_confidentiality_codes() =
      Code("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N");
  At(y, m, d, e.mutable_creation_time());
  e.mutable_location()->set_retrieve_key(absl::StrCat("key-d", n));
  doc.content = std::make_shared<const std::string>(absl::StrCat("content of document ", n));
  return doc;
}

}  // namespace

common::v1::Coding Code(const std::string& system, const std::string& code) {
  common::v1::Coding c;
  c.set_system(system);
  c.set_code(code);
  return c;
}

MemberData TestData() {
  MemberData data;
  data.org = kOrg;
  data.repository_id = kRepository;
  for (const char* id : {"P1", "P2", "P3"}) data.patients.push_back({id, {}});
  data.patients[0].demographics.mutable_name()->set_family("Testperson");

  MemberDocument d1 = Doc(1, "P1", "11488-4", 2020, 1, 1);
  At(2019, 12, 30, d1.entry.mutable_service_start_time());
  At(2019, 12, 31, d1.entry.mutable_service_stop_time());
  *d1.entry.mutable_practice_setting_code() = Code("http://snomed.info/sct", "394579002");
  *d1.entry.mutable_healthcare_facility_type_code() = Code("urn:test:facility", "F1");
  *d1.entry.add_event_codes() = Code("urn:test:event", "E1");
  d1.entry.add_authors()->set_institution("Clinic A Cardiology");
  MemberDocument d3 = Doc(3, "P1", "11506-3", 2022, 3, 1);
  *d3.entry.add_confidentiality_codes() = Code(registry::kActCodeSystem, "PSY");
  MemberDocument d4 = Doc(4, "P1", "18842-5", 2023, 1, 1);
  d4.entry.set_status(registry::v1::AVAILABILITY_STATUS_DEPRECATED);
  MemberDocument d5 = Doc(5, "P2", "18748-4", 2018, 5, 5);
  d5.entry.set_mime_type("application/pdf");
  std::string big((5u << 19) + 7, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131 + 7) % 251);
  d5.content = std::make_shared<const std::string>(std::move(big));
  MemberDocument d6 = Doc(6, "P1", "57133-1", 2020, 1, 1);

  for (MemberDocument* d : {&d1, &d3, &d4, &d5, &d6}) data.documents.push_back(std::move(*d));
  data.documents.insert(data.documents.begin() + 1, Doc(2, "P1", "11502-2", 2021, 6, 1));
  for (MemberDocument& d : data.documents) CompleteDocument(kOrg, kRepository, &d);
  return data;
}

std::unique_ptr<MemberStore> TestStore() {
  absl::StatusOr<std::unique_ptr<MemberStore>> store = MemberStore::Create(TestData());
  if (!store.ok()) std::abort();
  return *std::move(store);
}

common::v1::RequestContext TestContext() {
  common::v1::RequestContext c;
  c.set_request_id("req-1");
  c.set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  c.mutable_actor()->set_org("clinic-b");
  c.mutable_actor()->set_user_id("dr-who");
  c.mutable_actor()->set_role(common::v1::ROLE_CLINICIAN);
  return c;
}

v1::FindDocumentsRequest FindRequest(const std::vector<std::string>& local_ids) {
  v1::FindDocumentsRequest r;
  *r.mutable_context() = TestContext();
  for (const std::string& id : local_ids) r.add_local_patient_ids(id);
  return r;
}

v1::RetrieveDocumentRequest RetrieveRequest(const std::vector<std::string>& local_ids,
                                            const std::string& key) {
  v1::RetrieveDocumentRequest r;
  *r.mutable_context() = TestContext();
  for (const std::string& id : local_ids) r.add_local_patient_ids(id);
  r.set_retrieve_key(key);
  return r;
}

std::vector<std::string> Numbers(const v1::FindDocumentsResponse& response) {
  std::vector<std::string> out;
  for (const auto& e : response.entries()) {
    out.push_back(e.unique_id().substr(e.unique_id().rfind('.') + 1));
  }
  return out;
}

}  // namespace hie::member::testing
