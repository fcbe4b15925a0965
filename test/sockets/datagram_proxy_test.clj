(ns sockets.datagram-proxy-test
  "The datagram impairment proxy applies exactly its schedule, the schedule generator shrinks
  toward passing everything, the proxy leaves no fd or thread behind, and the worked example
  (a retry client's stale-answer bug) is found and shrunk to a few events."
  (:require [clojure.spec.alpha :as spec]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.test.check :as tc]
            [clojure.test.check.generators :as tgen]
            [clojure.test.check.properties :as prop]
            [sockets.core :as s]
            [sockets.datagram-proxy :as dp]
            [sockets.gen :as sg]
            [sockets.specs :as specs]
            [sockets.test-util :as u :refer [kind-of]]))

(use-fixtures :once u/fd-fixture)

(defn- proxy-threads []
  (filter #(str/starts-with? (.getName ^Thread %) "sockets-datagram-proxy-") (keys (Thread/getAllStackTraces))))

(defn- loopback [family] (s/inet-address (if (= :af/inet6 family) "::1" "127.0.0.1") 0))

(defmacro ^:private with-target
  "Runs body with `t` bound to a datagram socket on loopback of `family`."
  [[t family] & body]
  `(with-open [~t (s/socket ~family :sock/dgram)]
     (s/socket-bind ~t (loopback ~family))
     ~@body))

(defn- receive-until
  "Strings received on `so` up to and including `last-one` (each receive waits up to 5 s)."
  [so last-one]
  (binding [s/*socket-receive-timeout* 5000]
    (loop [acc []]
      (let [m (String. ^bytes (first (s/socket-receive-from so 1000)) "ISO-8859-1")
            acc (conj acc m)]
        (if (= m last-one) acc (recur acc))))))

(defn- send-up
  "Sends each string of `msgs`, then \"end\", from a client through proxy `p`; returns what the
  target `t` received, up to \"end\"."
  [p t msgs]
  (with-open [c (s/socket (:family (:address p)) :sock/dgram)]
    (s/socket-connect c (:address p))
    (doseq [m (concat msgs ["end"])] (s/socket-send c (.getBytes ^String m "ISO-8859-1")))
    (receive-until t "end")))

(deftest each-action-up-in-schedule-order
  (doseq [family [:af/inet :af/inet6]]
    (testing (str family)
      (with-target [t family]
        (sg/with-datagram-proxy [p {:target (s/socket-name t)
                                    :schedule {:up [:pass :drop {:action :duplicate :copies 3} {:action :reorder :after 2}
                                                    :pass :pass {:action :corrupt :offsets [0 2 9]} {:action :truncate :to 1}]}}]
          (is (= family (:family (:address p))))
          (is (= ["a" "c" "c" "c" "e" "f" "d" (String. (byte-array (map unchecked-byte [(bit-xor 0xff (int \g)) (int \h) (bit-xor 0xff (int \i))])) "ISO-8859-1") "x" "end"]
                 (send-up p t ["a" "b" "c" "d" "e" "f" "ghi" "xyz"])))
          (is (= [{:dir :up :n 0 :action :pass :size 1}
                  {:dir :up :n 1 :action :drop :size 1}
                  {:dir :up :n 2 :action :duplicate :copies 3 :size 1}
                  {:dir :up :n 3 :action :reorder :after 2 :size 1}
                  {:dir :up :n 4 :action :pass :size 1}
                  {:dir :up :n 5 :action :pass :size 1}
                  {:dir :up :n 3 :action :released :after-n 5}
                  {:dir :up :n 6 :action :corrupt :offsets [0 2 9] :size 3}
                  {:dir :up :n 7 :action :truncate :to 1 :size 3}
                  {:dir :up :n 8 :action :pass :size 3}]
                 @(:log p))))))))

(deftest down-direction-and-the-client-address
  (with-target [t :af/inet]
    (sg/with-datagram-proxy [p {:target (s/socket-name t) :schedule {:down [{:action :reorder :after 1} {:action :duplicate :copies 2}]}}]
      (with-open [c (s/socket :af/inet :sock/dgram)]
        (s/socket-connect c (:address p))
        (s/socket-send c "hello")
        (binding [s/*socket-receive-timeout* 5000]
          (let [[_ from] (s/socket-receive-from t 100)]
            (doseq [m ["1" "2" "end"]] (s/socket-send-to t m from))
            (is (= ["2" "2" "1" "end"] (receive-until c "end")) "1 held until 2 went, 2 twice")))))))

(deftest delay-holds-its-line-and-never-reorders
  (with-target [t :af/inet]
    (sg/with-datagram-proxy [p {:target (s/socket-name t) :schedule {:up [{:action :delay :ms 150}]}}]
      (let [t0 (System/nanoTime)
            got (send-up p t ["a" "b"])
            ms (/ (- (System/nanoTime) t0) 1e6)]
        (is (= ["a" "b" "end"] got) "the later datagrams wait behind the delayed one")
        (is (>= ms 150) (str "arrived after " ms " ms"))))))

(deftest a-held-datagram-never-released-is-logged-at-close
  (with-target [t :af/inet]
    (let [p (sg/datagram-proxy {:target (s/socket-name t) :schedule {:up [{:action :reorder :after 5}]}})]
      (try (is (= ["end"] (send-up p t ["a"])))
           (finally (.close ^java.io.Closeable p)))
      (is (= {:dir :up :n 0 :action :never-released} (last @(:log p)))))))

(deftest closing-leaves-no-fd-or-thread
  (is (empty? (proxy-threads)) "no proxy thread before")
  (with-target [t :af/inet]
    (u/with-fd-check
      (dotimes [_ 5]
        (let [p (sg/datagram-proxy {:target (s/socket-name t) :schedule {:up [{:action :delay :ms 10000}]}})]
          (try
            (is (= 4 (count (proxy-threads))))
            ;; a datagram waiting out its delay: close does not wait for it
            (with-open [c (s/socket :af/inet :sock/dgram)]
              (s/socket-send-to c "x" (:address p)))
            (finally (.close ^java.io.Closeable p)))
          (is (empty? (proxy-threads)) "every proxy thread has ended when close returns"))))))

(deftest invalid-schedules-are-refused-before-anything-starts
  (with-target [t :af/inet]
    (u/with-fd-check
      (doseq [bad [[] {:sideways []} {:up :drop} {:up [:explode]} {:up [{:action :duplicate}]}
                   {:down [{:action :delay :ms -1}]} {:up [{:action :corrupt :offsets 3}]}
                   {:up [{:action :reorder :after 0}]}]]
        (is (= :invalid (kind-of #(sg/datagram-proxy {:target (s/socket-name t) :schedule bad}))) (pr-str bad))
        (is (some? (dp/schedule-problem bad)))
        (is (not (spec/valid? ::specs/datagram-schedule bad)) (pr-str bad)))
      (is (= :invalid (kind-of #(sg/datagram-proxy {:target {:family :af/unix :path "/x"}})))))
    (is (empty? (proxy-threads)))))

;; ------------------------------------------------------------------ the generator

(deftest generated-schedules-are-valid
  (doseq [sched (tgen/sample (sg/datagram-schedule) 200)]
    (is (nil? (dp/schedule-problem sched)) (pr-str sched))
    (is (spec/valid? ::specs/datagram-schedule sched) (pr-str sched))))

(deftest schedules-shrink-toward-passing-everything
  (testing "a property failing on any schedule shrinks to the empty one"
    (let [r (tc/quick-check 20 (prop/for-all [s (sg/datagram-schedule)] false) :seed 7)]
      (is (= {:up [] :down []} (first (get-in r [:shrunk :smallest]))))))
  (testing "a property failing on any drop shrinks to one drop and nothing else"
    (let [r (tc/quick-check 200 (prop/for-all [s (sg/datagram-schedule)]
                                  (not-any? #(= :drop (:action %)) (dp/schedule-faults s)))
                            :seed 7)
          smallest (first (get-in r [:shrunk :smallest]))]
      (is (false? (:pass? r)))
      (is (= [:drop] (map :action (dp/schedule-faults smallest))) (pr-str smallest))
      (is (= 1 (+ (count (:up smallest)) (count (:down smallest)))) (pr-str smallest)))))

;; ------------------------------------------------------------------ the worked example

(defn- example-ns []
  (load-file "dev/examples/datagram_retry.clj")
  (the-ns 'examples.datagram-retry))

(defn- example [sym] @(ns-resolve (example-ns) sym))

(defn- shrink-results
  "[faults-of-smallest ...] of the buggy client for each seed (nil where it was not caught)."
  [seeds]
  (let [prop ((example 'retry-property) :af/inet {:check-id? false})]
    (vec (for [seed seeds]
           (let [r (tc/quick-check 100 prop :seed seed)]
             (when (false? (:pass? r))
               (dp/schedule-faults (first (get-in r [:shrunk :smallest])))))))))

(defn- check-shrinks [seeds need]
  (let [results (shrink-results seeds)
        small (count (filter #(and % (<= (count %) 3)) results))]
    (is (>= small need) (str small " of " (count seeds) " runs shrank to <= 3 events: " (pr-str results)))
    results))

(deftest retry-bug-is-found-and-shrinks
  (check-shrinks [1 2] 2)
  (testing "the correct client passes"
    (is (true? (:pass? (tc/quick-check 50 ((example 'retry-property) :af/inet {:check-id? true}) :seed 1)))))
  (testing "over IPv6 too"
    (is ((example 'correct-answers?)
         ((example 'exchange) :af/inet6 {:down [{:action :duplicate :copies 2}] :up [:drop]}
          (merge (example 'client-opts) {:check-id? true}))))))

(deftest ^:slow retry-bug-shrinks-in-9-of-10-seeded-runs
  (let [results (check-shrinks (range 1 11) 9)]
    (println "datagram retry bug, seeds 1-10, shrunk faults:" (pr-str results)))
  (is (true? (:pass? (tc/quick-check 200 ((example 'retry-property) :af/inet {:check-id? true}) :seed 42)))
      "the correct client passes 200 trials"))

(deftest docstrings
  (doseq [[sym v] (ns-publics 'sockets.datagram-proxy)]
    (is (not (str/blank? (:doc (meta v)))) (str sym " has no docstring"))))
