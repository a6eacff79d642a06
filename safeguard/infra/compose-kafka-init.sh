#!/bin/sh
# docker compose's one-shot `kafka-init`: the broker set up as `safeguard infra up` sets up the
# local one (safeguard/infra/kafka.py and tls.py), before the broker's first start.
#
# - a certificate authority of its own and the broker's key (keytool, in the Kafka image), valid
#   for the names clients use: kafka (the compose network), localhost and 127.0.0.1 (the host);
# - server.properties: SASL_SSL listeners only (SCRAM-SHA-512), the KRaft controller accepting
#   only the broker's certificate, the standard authorizer denying whatever no ACL allows;
# - the storage formatted with every principal's SCRAM credentials, from the Docker secrets
#   kafka_<principal> (files under ./secrets, never committed).
#
# Run again it changes nothing: a formatted storage is left as it is.
set -eu
umask 077

# The folders are the compose file's volumes; a test runs the script on folders of its own.
secrets=${INIT_SECRETS:-/run/secrets}
tls=${INIT_TLS:-/etc/kafka/tls}                # kafka-tls: ca.pem is read by every client
config=${INIT_CONFIG:-/mnt/shared/config}      # kafka-config: the image's broker reads it here
data=${INIT_DATA:-/var/lib/kafka/data}         # kafka-data
storage=${INIT_STORAGE_TOOL:-/opt/kafka/bin/kafka-storage.sh}
owner=${INIT_OWNER:-1000:1000}                 # the image runs the broker as appuser
principals="broker admin worker alert-store intake importer dashboard"

if [ -f "$data/meta.properties" ]; then
    echo "kafka-init: the storage is formatted already; nothing to do"
    exit 0
fi
mkdir -p "$tls" "$config" "$data"
store=$(cat "$secrets/kafka_store_password")

kt() { keytool "$@" -storepass "$store" -noprompt; }
key="-keyalg EC -groupname secp256r1 -sigalg SHA256withECDSA"
rm -f "$tls"/*
# shellcheck disable=SC2086  # $key is a list of options
kt -genkeypair -alias ca $key -dname "CN=safeguard compose Kafka CA" -ext bc:c -validity 825 \
    -keystore "$tls/ca.p12" -storetype PKCS12
kt -exportcert -rfc -alias ca -keystore "$tls/ca.p12" -file "$tls/ca.pem"
# shellcheck disable=SC2086
kt -genkeypair -alias broker $key -dname "CN=broker" -validity 825 \
    -keystore "$tls/broker.p12" -storetype PKCS12
kt -certreq -alias broker -keystore "$tls/broker.p12" -file "$tls/broker.csr"
kt -gencert -alias ca -keystore "$tls/ca.p12" -infile "$tls/broker.csr" -outfile "$tls/broker.pem" \
    -rfc -validity 825 -ext SAN=dns:kafka,dns:localhost,ip:127.0.0.1 \
    -ext KU=digitalSignature,keyAgreement -ext EKU=serverAuth,clientAuth
kt -importcert -alias ca -file "$tls/ca.pem" -keystore "$tls/broker.p12"
kt -importcert -alias broker -file "$tls/broker.pem" -keystore "$tls/broker.p12"
kt -importcert -alias ca -file "$tls/ca.pem" -keystore "$tls/truststore.p12" -storetype PKCS12
# The authority signs nothing else: its key goes, so no reader of the shared volume can use it.
rm -f "$tls/broker.csr" "$tls/ca.p12"

broker_password=$(cat "$secrets/kafka_broker")
cat > "$config/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@kafka:9093
listeners=HOST://0.0.0.0:9092,DOCKER://0.0.0.0:29092,CONTROLLER://0.0.0.0:9093
advertised.listeners=HOST://127.0.0.1:9092,DOCKER://kafka:29092
listener.security.protocol.map=HOST:SASL_SSL,DOCKER:SASL_SSL,CONTROLLER:SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=DOCKER
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.docker.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$broker_password";
listener.name.controller.ssl.client.auth=required
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$store
ssl.key.password=$store
ssl.truststore.type=PKCS12
ssl.truststore.location=$tls/truststore.p12
ssl.truststore.password=$store
ssl.enabled.protocols=TLSv1.3,TLSv1.2
ssl.principal.mapping.rules=RULE:^CN=([A-Za-z0-9._-]+)\$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:broker;User:admin
log.dirs=$data
num.partitions=8
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF

# The broker's health check logs in as the admin.
admin_password=$(cat "$secrets/kafka_admin")
cat > "$config/admin-client.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_password";
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
EOF

scram=""
for name in $principals; do
    scram="$scram --add-scram SCRAM-SHA-512=[name=$name,password=$(cat "$secrets/kafka_$name")]"
done
cluster=-
while [ "${cluster#-}" != "$cluster" ]; do  # an id starting with "-" would read as an option
    cluster=$("$storage" random-uuid)
done
# shellcheck disable=SC2086  # $scram is a list of options
"$storage" format -t "$cluster" -c "$config/server.properties" $scram

# Clients read only the authority's certificate; everything else stays the broker's.
chmod 644 "$tls/ca.pem"
chmod 755 "$tls"
chown -R "$owner" "$tls" "$config" "$data"
echo "kafka-init: certificates made, storage formatted with $(echo $principals | wc -w) principals"
