package wales.safeguarding;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads alerts from one alert topic and prints each as one JSON line: its id, version, kind,
 * level, status and the event ids of its evidence.
 *
 * <p>Arguments: a Kafka client properties file (bootstrap.servers, security.protocol,
 * sasl.mechanism, sasl.jaas.config, ssl.truststore.*), the folder of the project's Avro schemas,
 * the topic, and how many alerts to read. Every partition is read from its beginning with no
 * consumer group, so the principal needs READ on the topic only. Exits 0 once that many alerts
 * are read, 2 if they are not there within a minute.
 */
public final class AlertReader {
    private AlertReader() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 4) {
            System.err.println("usage: AlertReader CLIENT_PROPERTIES SCHEMA_FOLDER TOPIC COUNT");
            System.exit(64);
        }
        Properties config = new Properties();
        try (InputStream in = new FileInputStream(args[0])) {
            config.load(in);
        }
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        BinaryMessageDecoder<GenericRecord> decoder = decoder(Path.of(args[1]));
        String topic = args[2];
        int wanted = Integer.parseInt(args[3]);

        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(config)) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo p : consumer.partitionsFor(topic, Duration.ofSeconds(30))) {
                partitions.add(new TopicPartition(topic, p.partition()));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            int read = 0;
            Instant deadline = Instant.now().plusSeconds(60);
            while (read < wanted && Instant.now().isBefore(deadline)) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                    GenericRecord alert = decoder.decode(record.value());
                    System.out.println(line(alert));
                    read++;
                }
            }
            System.out.flush();
            System.exit(read >= wanted ? 0 : 2);
        }
    }

    /** A decoder that knows every version of the alert schema and reads into the newest. */
    static BinaryMessageDecoder<GenericRecord> decoder(Path folder) throws IOException {
        TreeMap<Integer, Schema> versions = new TreeMap<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(folder, "alert.v*.avsc")) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                int version = Integer.parseInt(name.substring("alert.v".length(), name.length() - ".avsc".length()));
                versions.put(version, new Schema.Parser().parse(file.toFile()));
            }
        }
        BinaryMessageDecoder<GenericRecord> decoder =
                new BinaryMessageDecoder<>(GenericData.get(), versions.lastEntry().getValue());
        for (Schema writer : versions.values()) {
            decoder.addSchema(writer);
        }
        return decoder;
    }

    static String line(GenericRecord alert) {
        StringBuilder evidence = new StringBuilder();
        for (Object item : (List<?>) alert.get("evidence")) {
            if (evidence.length() > 0) {
                evidence.append(',');
            }
            evidence.append(quote(((GenericRecord) item).get("event_id").toString()));
        }
        return "{\"alert_id\":" + quote(alert.get("alert_id").toString())
                + ",\"version\":" + alert.get("version")
                + ",\"kind\":" + quote(alert.get("kind").toString())
                + ",\"level\":" + quote(alert.get("level").toString())
                + ",\"status\":" + quote(alert.get("status").toString())
                + ",\"evidence\":[" + evidence + "]}";
    }

    static String quote(String text) {
        return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
