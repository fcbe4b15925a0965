(ns sockets.gen-test
  (:require [clojure.spec.alpha :as spec]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check :as tc]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as tgen]
            [clojure.test.check.properties :as prop]
            [sockets.core :as s]
            [sockets.gen :as sg]
            [sockets.specs :as specs]
            [sockets.test-util :as u :refer [kind-of]])
  (:import (java.nio ByteBuffer)
           (java.util Arrays)))

(use-fixtures :once u/fd-fixture)

(defn- stress [n] (if-let [v (System/getenv "SOCKETS_STRESS")] (max 1 (long (* n (Double/parseDouble v)))) n))

(defspec generated-sockaddrs-are-valid-and-round-trip 1000
  (prop/for-all [m (sg/sockaddr)]
    (and (spec/valid? ::specs/sockaddr m)
         (= m (s/string->sockaddr (s/sockaddr->string m))))))

(deftest generated-unix-and-loopback-addresses-bind
  (doseq [m (tgen/sample (sg/unix-sockaddr) 50)
          :when (= \@ (first (:path m)))]
    (with-open [so (s/socket :af/unix :sock/dgram)]
      (s/socket-bind so m)
      (is (= m (s/socket-name so)))))
  (doseq [a (tgen/sample (sg/ipv4-address [127]) 50)]
    (with-open [so (s/socket :af/inet :sock/dgram)]
      (s/socket-bind so (s/inet-address a 0))
      (is (= a (:address (s/socket-name so)))))))

;; ------------------------------------------------------------------ a target server

(defn- echo-handler [so] (s/socket-send-all so (u/receive-all so)) (s/socket-shutdown so :shut/wr))

(defn- through-proxy [target sched ^bytes payload]
  (sg/with-fault-proxy [p {:target target :schedule sched}]
    (with-open [c (s/socket :af/inet :sock/stream)]
      (s/socket-connect c (:address p))
      (let [reader (future (u/receive-all c))]
        (s/socket-send-all c payload)
        (s/socket-shutdown c :shut/wr)
        [(deref reader 30000 nil) @(:log p)]))))

(def ^:private payload-gen
  ;; mostly small, sometimes up to 1 MiB
  (tgen/frequency [[8 (sg/payload 4096)]
                   [1 (tgen/fmap (fn [n] (let [b (byte-array n)] (.nextBytes (java.util.Random. n) b) b))
                                 (tgen/choose 0 (* 1024 1024)))]]))

(defspec proxy-delivers-every-byte-in-order (stress 1000)
  ;; (a target per trial: a defspec body is built once and run later, so a server opened
  ;; around prop/for-all would already be closed when the trials run)
  (prop/for-all [sched (sg/fault-schedule {:fault? false :max-delay-ms 2 :max-chunk 65536})
                 payload payload-gen]
    (u/with-target [target _ echo-handler]
      (let [[got _] (through-proxy target sched payload)]
        (Arrays/equals ^bytes payload ^bytes got)))))

(defn- expected-cuts [n chunks]
  (loop [left n i 0 acc []]
    (if (pos? left)
      (let [c (min left (nth chunks (mod i (count chunks))))] (recur (- left c) (inc i) (conj acc c)))
      acc)))

(deftest proxy-re-chunks-exactly
  (u/with-target [target _ echo-handler]
    (doseq [sched (tgen/sample (sg/fault-schedule {:fault? false :max-delay-ms 0}) 30)]
      (let [payload (byte-array 5000 (byte 7))
            sched (assoc sched :fill-wait-ms 2000)
            [got log] (through-proxy target sched payload)]
        (is (Arrays/equals payload ^bytes got))
        (is (= (expected-cuts 5000 (:chunks sched))
               (for [[dir what n] log :when (and (= :up dir) (= :write what))] n))
            (pr-str sched))))))

;; ------------------------------------------------------------------ the worked example

(defn- framed ^bytes [^bytes body]
  (.array (doto (ByteBuffer/allocate (+ 4 (alength body))) (.putInt (alength body)) (.put body))))

(defn naive-read-message
  "Assumes one read is one message: the bug the proxy finds."
  [so]
  (let [b (s/socket-receive so 65536)
        bb (ByteBuffer/wrap b)]
    (when (>= (alength b) 4)
      (let [n (.getInt bb)]
        (when (= (.remaining bb) n) (Arrays/copyOfRange b 4 (alength b)))))))

(defn- read-exactly ^bytes [so n]
  (let [buf (byte-array n)]
    (loop [off 0]
      (if (< off n)
        (let [k (s/socket-receive! so buf off n)]
          (if (zero? k) nil (recur (+ off k))))
        buf))))

(defn correct-read-message
  "Reads the 4-byte length, then exactly that many bytes."
  [so]
  (when-let [h (read-exactly so 4)]
    (read-exactly so (.getInt (ByteBuffer/wrap h)))))

(defn- message-property [read-message body]
  (prop/for-all [chunks (sg/chunking 64)]
    (u/with-target [target _ (fn [so] (s/socket-send-all so (framed body)) (u/receive-all so))]
      (sg/with-fault-proxy [p {:target target :schedule {:down {:chunks chunks :delays-ms [15]}}}]
        (with-open [c (s/socket :af/inet :sock/stream)]
          (s/socket-connect c (:address p))
          (Arrays/equals ^bytes body ^bytes (read-message c)))))))

(deftest worked-example-naive-reader-fails-and-shrinks
  (let [body (.getBytes (apply str (repeat 25 "abcd")) "UTF-8")
        naive (tc/quick-check 100 (message-property naive-read-message body) :seed 42)
        correct (tc/quick-check (stress 500) (message-property correct-read-message body) :seed 42)]
    (is (false? (:pass? naive)) "the naive reader is caught")
    (is (<= (count (first (get-in naive [:shrunk :smallest]))) 3) (pr-str (:shrunk naive)))
    (is (true? (:pass? correct)) (pr-str (dissoc correct :result-data)))))

;; ------------------------------------------------------------------ faults

(deftest reset-and-half-close-faults
  (testing ":reset reaches the client as ECONNRESET"
    (u/with-target [target _ (fn [so] (s/socket-send-all so (byte-array 100000)) (u/receive-all so))]
      (sg/with-fault-proxy [p {:target target :schedule {:fault {:at-byte 1000 :kind :reset :direction :down}}}]
        (with-open [c (s/socket :af/inet :sock/stream)]
          ;; the proxy may reset the connection before this thread's connect has read SO_ERROR:
          ;; then connect itself reports the reset
          (let [e (try (s/socket-connect c (:address p))
                       (dotimes [_ 1000] (when (zero? (s/socket-receive! c (byte-array 4096))) (throw (ex-info "eof" {}))))
                       nil (catch Exception e e))]
            (is (= :ECONNRESET (:errno (ex-data e))) (pr-str (ex-data e))))))))
  (testing ":half-close is EOF for the client while the other direction stays open"
    (let [got (promise)]
      (u/with-target [target _ (fn [so] (s/socket-send-all so (byte-array 5000 (byte 1))) (deliver got (u/receive-all so)))]
        (sg/with-fault-proxy [p {:target target :schedule {:fault {:at-byte 2000 :kind :half-close :direction :down}}}]
          (with-open [c (s/socket :af/inet :sock/stream)]
            (s/socket-connect c (:address p))
            (is (= 2000 (alength (u/receive-all c))) "EOF after exactly 2000 bytes")
            (s/socket-send-all c "still open upstream")
            (s/socket-shutdown c :shut/wr)
            (is (= "still open upstream" (String. ^bytes (deref got 5000 (byte-array 0)) "UTF-8")))))))))

;; ------------------------------------------------------------------ addrinfo, flags, option maps

(defspec generated-addrinfos-conform 300
  (prop/for-all [ai (sg/addrinfo)]
    (and (spec/valid? ::specs/addrinfo ai) (s/addrinfo? ai))))

(defspec generated-flags-convert 300
  (prop/for-all [fl (sg/flags :msg)]
    (= fl (sockets.constants/int->flags :msg (sockets.constants/flags->int :msg fl)))))

(defspec generated-option-maps-apply 100
  (prop/for-all [[family type] (tgen/elements [[:af/inet :sock/stream] [:af/inet :sock/dgram] [:af/inet6 :sock/stream] [:af/unix :sock/stream]])
                 seed tgen/nat]
    (let [m (tgen/generate (sg/socket-option-map family type) 30 seed)]
      (with-open [so (s/socket family type)]
        (s/set-socket-options! so m)
        (= (set (keys m)) (set (keys (s/socket-options so (keys m)))))))))

(defspec generated-invalid-option-maps-are-refused-before-any-change 100
  (prop/for-all [m (sg/invalid-option-map)]
    (with-open [so (s/socket :af/inet :sock/stream)]
      (let [readable #(update-vals (s/socket-options so) (fn [v] (if (bytes? v) (vec v) v)))
            before (readable)]
        (and (= :invalid (kind-of #(s/set-socket-options! so m)))
             (= before (readable)))))))
