#include "services/common/channel.h"

#include <utility>

namespace hie {

std::shared_ptr<grpc::Channel> ServiceChannel(const std::string& target,
                                              std::shared_ptr<grpc::ChannelCredentials> credentials,
                                              grpc::ChannelArguments args) {
  args.SetServiceConfigJSON(
      R"({"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}})");
  return grpc::CreateCustomChannel(target, std::move(credentials), args);
}

}  // namespace hie
