(ns examples.datagram-retry
  "Property-testing a datagram protocol with the datagram proxy: a request/retry client over
  UDP, run through `sockets.gen/with-datagram-proxy` under generated schedules.

  The protocol: a request is [id value crc32] (three big-endian ints), the server answers
  [id (f value) crc32]; datagrams with a bad checksum or size are ignored. The client sends a
  request, waits `:timeout-ms` for the answer and retransmits, up to `:retries` times.
  The buggy client takes any well-formed answer as the answer to its current request, so a
  stale answer (a duplicate, or the answer to a retransmission) is taken for the next one;
  quick-check finds it and shrinks the schedule to a single event or two."
  (:require [clojure.test.check :as tc]
            [clojure.test.check.properties :as prop]
            [sockets.core :as s]
            [sockets.datagram-proxy :as dp]
            [sockets.gen :as sg])
  (:import (java.nio ByteBuffer)
           (java.util.zip CRC32)))

(set! *warn-on-reflection* true)

(defn- crc ^long [^bytes b n]
  (.getValue (doto (CRC32.) (.update b 0 (int n)))))

(defn encode
  "The 12-byte datagram [a b crc32-of-both]."
  ^bytes [a b]
  (let [bb (doto (ByteBuffer/allocate 12) (.putInt (int a)) (.putInt (int b)))]
    (.putInt bb (unchecked-int (crc (.array bb) 8)))
    (.array bb)))

(defn decode
  "[a b] of a well-formed datagram, nil for a truncated or corrupted one."
  [^bytes b]
  (when (= 12 (alength b))
    (let [bb (ByteBuffer/wrap b)]
      (when (= (unchecked-int (crc b 8)) (.getInt bb 8))
        [(.getInt bb 0) (.getInt bb 4)]))))

(defn answer "The server's function." [v] (+ 7 (* 31 (long v))))

(defn start-server
  "A UDP server on a loopback port of `family`, answering each well-formed request on its own
  thread; returns [socket thread]. Closing the socket ends the thread."
  [family]
  (let [so (s/socket family :sock/dgram)]
    (s/socket-bind so (s/inet-address (if (= :af/inet6 family) "::1" "127.0.0.1") 0))
    [so (doto (Thread. ^Runnable
                       (fn []
                         (binding [s/*socket-receive-timeout* nil]
                           (try (loop []
                                  (let [[b from] (s/socket-receive-from so 64)]
                                    (when-let [[id v] (decode b)]
                                      (s/socket-send-to so (encode id (answer v)) from))
                                    (recur)))
                                (catch java.io.IOException _ nil))))
                       "example-udp-server")
          (.setDaemon true) (.start))]))

(defn request!
  "Sends request `id` with `value` over the connected socket `so`; returns the answer, or
  ::no-answer after `:retries` retransmissions. Each attempt waits `:timeout-ms` ms.
  `:check-id?` false is the bug: any well-formed answer is taken."
  [so id value {:keys [timeout-ms retries check-id?]}]
  (let [req (encode id value)]
    (loop [attempt 0]
      (if (> attempt (long retries))
        ::no-answer
        (do (s/socket-send so req)
            (let [deadline (+ (System/currentTimeMillis) (long timeout-ms))
                  got (loop []
                        (let [left (- deadline (System/currentTimeMillis))]
                          (when (pos? left)
                            (let [b (binding [s/*socket-receive-timeout* left]
                                      (try (s/socket-receive so 64)
                                           (catch java.io.IOException e
                                             (if (= :timeout (:kind (ex-data e))) nil (throw e)))))
                                  [rid a] (some-> b decode)]
                              (cond
                                (nil? b) nil
                                (and rid (or (not check-id?) (= rid id))) [a]
                                :else (recur))))))]
              (if got (first got) (recur (inc attempt)))))))))

(def client-opts
  "The clients' settings: short timeouts keep a trial to milliseconds."
  {:timeout-ms 50 :retries 30})

(defn exchange
  "Runs requests 0..n-1 (values 10, 20, ...) through a datagram proxy with `schedule` between a
  client and a fresh server; returns the answers."
  [family schedule opts]
  (let [[server t] (start-server family)]
    (try
      (sg/with-datagram-proxy [p {:target (s/socket-name server) :schedule schedule}]
        (with-open [c (s/socket family :sock/dgram)]
          (s/socket-connect c (:address p))
          (mapv (fn [id] (request! c id (* 10 (inc id)) opts)) (range 3))))
      (finally (s/socket-close server) (.join ^Thread t 5000)))))

(defn correct-answers? "True when `answers` are the server's answers to 10, 20, 30." [answers]
  (= answers (mapv #(answer (* 10 (inc %))) (range 3))))

(defn retry-property
  "The property: every answer is right, under any generated schedule."
  [family opts]
  (prop/for-all [schedule (sg/datagram-schedule {:max-delay-ms 30})]
    (correct-answers? (exchange family schedule (merge client-opts opts)))))

(defn run
  "Checks the buggy client (seed `seed`, 100 trials) and the correct one (`trials` trials).
  Returns {:buggy-found? :shrunk-faults (the non-pass events of the smallest failing
  schedule) :correct-passed?}."
  ([] (run 1 200))
  ([seed trials]
   (let [buggy (tc/quick-check 100 (retry-property :af/inet {:check-id? false}) :seed seed)
         correct (tc/quick-check trials (retry-property :af/inet {:check-id? true}) :seed seed)]
     {:buggy-found? (false? (:pass? buggy))
      :shrunk-faults (some-> buggy :shrunk :smallest first dp/schedule-faults)
      :correct-passed? (true? (:pass? correct))})))

(comment (run))
