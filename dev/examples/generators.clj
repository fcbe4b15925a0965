(ns examples.generators
  "Property-testing network code with sockets.gen: every generated address survives its string
  form, and an echo through the fault proxy delivers every byte for any chunking.
  Run: lein run -m examples.generators"
  (:require [clojure.test.check :as tc]
            [clojure.test.check.properties :as prop]
            [sockets.core :as s]
            [sockets.gen :as sg]))

(def addresses-round-trip
  (prop/for-all [m (sg/sockaddr)]
    (= m (s/string->sockaddr (s/sockaddr->string m)))))

(defn- echo-through-proxy [chunks ^bytes payload]
  (with-open [l (s/socket :af/inet :sock/stream)]
    (s/socket-bind l (s/inet-address "127.0.0.1" 0))
    (s/socket-listen l 4)
    (future (with-open [c (s/socket-accept l)]
              (loop [] (let [b (s/socket-receive c 65536)]
                         (when (pos? (alength ^bytes b)) (s/socket-send-all c b) (recur))))))
    (sg/with-fault-proxy [p {:target (s/socket-name l) :schedule {:chunks chunks}}]
      (with-open [c (s/socket :af/inet :sock/stream)]
        (s/socket-connect c (:address p))
        (s/socket-send-all c payload)
        (s/socket-shutdown c :shut/wr)
        (let [got (java.io.ByteArrayOutputStream.)]
          (loop [] (let [b (s/socket-receive c 65536)]
                     (when (pos? (alength ^bytes b)) (.write got ^bytes b) (recur))))
          (java.util.Arrays/equals payload (.toByteArray got)))))))

(def proxy-delivers
  (prop/for-all [chunks (sg/chunking 512) payload (sg/payload 8192)]
    (echo-through-proxy chunks payload)))

(defn run
  "Runs both properties; returns their :pass? values."
  []
  [(:pass? (tc/quick-check 200 addresses-round-trip))
   (:pass? (tc/quick-check 30 proxy-delivers))])

(defn -main
  "Prints what (run) returns: `lein run -m examples.generators`."
  [& _]
  (prn (run))
  (shutdown-agents))
