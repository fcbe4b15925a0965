(ns sockets.proxy-test
  "The TCP fault proxy's shaping, measured by what arrives when: latency per direction, a
  bandwidth cap, a slow reader. Only order and lower bounds are asserted (and upper bounds on
  bytes, which a loaded machine only lowers), so a slow machine cannot fail them."
  (:require [clojure.spec.alpha :as spec]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check :as tc]
            [clojure.test.check.generators :as tgen]
            [clojure.test.check.properties :as prop]
            [sockets.core :as s]
            [sockets.gen :as sg]
            [sockets.specs :as specs]
            [sockets.test-util :as u :refer [kind-of]])
  (:import (java.util Arrays)))

(use-fixtures :once u/fd-fixture)

(defn- ms-since ^double [^long t0] (/ (- (System/nanoTime) t0) 1e6))

(defn- round-trip-ms
  "Connects through a proxy with `schedule` to a server answering \"pong\" to \"ping\"; returns
  [reply ms-from-send-to-reply]."
  [schedule]
  (u/with-target [target _ (fn [so] (let [b (s/socket-receive so 4)] (s/socket-send-all so "pong") (u/receive-all so) (String. ^bytes b "UTF-8")))]
    (sg/with-fault-proxy [p {:target target :schedule schedule}]
      (with-open [c (s/socket :af/inet :sock/stream)]
        (s/socket-connect c (:address p))
        (let [t0 (System/nanoTime)]
          (s/socket-send-all c "ping")
          (let [reply (String. ^bytes (binding [s/*socket-receive-timeout* 30000] (s/socket-receive c 4)) "UTF-8")]
            [reply (ms-since t0)]))))))

(deftest latency-per-direction
  (testing "100 ms down: the reply comes no sooner than 100 ms"
    (let [[reply ms] (round-trip-ms {:down {:latency-ms 100}})]
      (is (= "pong" reply))
      (is (>= ms 100) (str ms " ms"))))
  (testing "100 ms each way: no sooner than 200 ms"
    (let [[reply ms] (round-trip-ms {:up {:latency-ms 100} :down {:latency-ms 100}})]
      (is (= "pong" reply))
      (is (>= ms 200) (str ms " ms"))))
  (testing "a flat schedule shapes both directions"
    (let [[_ ms] (round-trip-ms {:latency-ms 80})]
      (is (>= ms 160) (str ms " ms")))))

(deftest bandwidth-cap
  (let [payload (byte-array 100000)]
    (.nextBytes (java.util.Random. 1) payload)
    (u/with-target [target got u/receive-all]
      (sg/with-fault-proxy [p {:target target :schedule {:up {:bytes-per-sec 50000}}}]
        (with-open [c (s/socket :af/inet :sock/stream)]
          (s/socket-connect c (:address p))
          (let [t0 (System/nanoTime)]
            (s/socket-send-all c payload)
            (s/socket-shutdown c :shut/wr)
            (let [b (deref got 60000 nil)
                  ms (ms-since t0)]
              (is (Arrays/equals payload ^bytes b) "every byte, in order")
              (is (>= ms 1500) (str "100 kB at 50 kB/s took " ms " ms"))
              (is (< ms 60000) "and ends"))))))))

(deftest slow-reader-stalls-the-sender
  (let [rate 20000
        chunk (byte-array 65536)
        arrived (atom 0)
        count-all (fn [so] (let [buf (byte-array 65536)]
                             (loop [] (let [n (s/socket-receive! so buf)]
                                        (when (pos? n) (swap! arrived + n) (recur))))))]
    (u/with-target [target _ count-all]
      (sg/with-fault-proxy [p {:target target :schedule {:up {:read-bytes-per-sec rate}}}]
        (with-open [c (s/socket :af/inet :sock/stream)]
          (s/socket-connect c (:address p))
          (let [t0 (System/nanoTime)
                ;; send until a send of 64 KiB cannot finish in 500 ms; at most 64 MiB
                [sent stalled?] (binding [s/*socket-send-timeout* 500]
                                  (loop [sent 0]
                                    (if (>= sent (* 64 1024 1024))
                                      [sent false]
                                      (let [r (try (s/socket-send-all c chunk) :ok
                                                   (catch java.io.IOException e (:kind (ex-data e))))]
                                        (if (= :ok r) (recur (+ sent 65536)) [sent (= :timeout r)])))))
                secs (/ (ms-since t0) 1000.0)
                n @arrived]
            (is stalled? (str "the sender stalled after " sent " bytes"))
            ;; the proxy read no faster than its rate (plus a slice and one write): what reached
            ;; the target is bounded by how long the sender ran, however slow the machine
            (is (<= n (+ (* rate (+ secs 1.0)) 65536)) (str n " bytes reached the target in " secs " s"))))))))

(deftest shaping-generators
  (doseq [sched (tgen/sample (sg/shaped-schedule) 100)]
    (is (spec/valid? ::specs/fault-schedule sched) (pr-str sched)))
  (doseq [sched (tgen/sample (sg/fault-schedule) 100)]
    (is (spec/valid? ::specs/fault-schedule sched) (pr-str sched)))
  (is (= {} (first (get-in (tc/quick-check 20 (prop/for-all [m (sg/shaping)] false) :seed 3) [:shrunk :smallest])))
      "shrinks to no shaping"))

(deftest shaped-schedules-still-deliver-every-byte
  (doseq [sched (tgen/sample (sg/shaped-schedule {:max-latency-ms 5 :min-rate 500000 :max-delay-ms 1}) 5)]
    (let [payload (byte-array 20000 (byte 3))]
      (u/with-target [target got u/receive-all]
        (sg/with-fault-proxy [p {:target target :schedule sched}]
          (with-open [c (s/socket :af/inet :sock/stream)]
            (s/socket-connect c (:address p))
            (s/socket-send-all c payload)
            (s/socket-shutdown c :shut/wr)
            (is (Arrays/equals payload ^bytes (deref got 60000 nil)) (pr-str sched))))))))

(deftest shaping-values-out-of-range-are-refused
  (with-open [l (u/listener)]
    (u/with-fd-check
      (doseq [bad [{:bytes-per-sec 0} {:down {:read-bytes-per-sec -5}} {:latency-ms 1.5} {:up {:latency-ms "100"}}]]
        (is (= :invalid (kind-of #(sg/fault-proxy {:target (s/socket-name l) :schedule bad}))) (pr-str bad))))))
