#pragma once

// A valid submission for the registry core's tests: one entry of patient (clinic-a, MRN-1),
// served by clinic-a; tests change one field at a time.

#include <string>

#include "hie/registry/v1/registry.pb.h"

namespace hie::registry::testing {

inline v1::DocumentEntry ValidEntry(const std::string& unique_id) {
  v1::DocumentEntry e;
  e.set_unique_id(unique_id);
  e.mutable_patient()->set_org("clinic-a");
  e.mutable_patient()->set_local_id("MRN-1");
  e.mutable_class_code()->set_system("http://loinc.org");
  e.mutable_class_code()->set_code("11488-4");
  e.mutable_type_code()->set_system("http://loinc.org");
  e.mutable_type_code()->set_code("11488-4");
  e.mutable_format_code()->set_system("urn:ihe:format");
  e.mutable_format_code()->set_code("urn:ihe:pcc:xphr:2007");
  e.set_mime_type("text/xml");
  auto* n = e.add_confidentiality_codes();
  n->set_system("http://terminology.hl7.org/CodeSystem/v3-Confidentiality");
  n->set_code("N");
  e.mutable_creation_time()->set_seconds(1'700'000'000);
  e.mutable_hash()->set_algorithm(v1::ContentHash::ALGORITHM_SHA256);
  e.mutable_hash()->set_digest(std::string(32, '\x11'));
  e.set_size_bytes(2048);
  e.mutable_location()->set_member_org("clinic-a");
  e.mutable_location()->set_repository_unique_id("1.2.3.4");
  return e;
}

inline v1::RegisterSubmissionSetRequest ValidSubmission() {
  v1::RegisterSubmissionSetRequest r;
  r.mutable_context()->set_request_id("req-1");
  r.mutable_context()->mutable_actor()->set_org("clinic-a");
  r.set_idempotency_key("key-1");
  r.mutable_submission_set()->set_unique_id("1.2.3.4.100");
  *r.add_entries() = ValidEntry("1.2.3.4.5");
  return r;
}

}  // namespace hie::registry::testing
