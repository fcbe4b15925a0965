(ns sockets.specs-test
  (:require [clojure.spec.alpha :as s]
            [clojure.test :refer [deftest is use-fixtures]]
            [sockets.test-util :as u]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.properties :as prop]
            [sockets.core :as sc]
            [sockets.gen :as sg]
            [sockets.specs :as specs]))

(use-fixtures :once u/fd-fixture)

(defspec generated-sockaddrs-conform 500
  (prop/for-all [m (sg/sockaddr)]
    (s/valid? ::specs/sockaddr m)))

(deftest specs-accept-and-reject
  (is (s/valid? ::specs/sockaddr (sc/inet-address "127.0.0.1" 80)))
  (is (s/valid? ::specs/sockaddr (sc/inet-address "fe80::1%lo" 80)))
  (is (s/valid? ::specs/sockaddr (sc/unix-address "/tmp/x")))
  (is (not (s/valid? ::specs/sockaddr {:family :af/inet :address "1.2.3.256" :port 1})))
  (is (not (s/valid? ::specs/sockaddr {:family :af/inet :address "1.2.3.4"})))
  (is (not (s/valid? ::specs/sockaddr {:family :af/unix :path (apply str (repeat 300 "a"))})))
  (is (every? #(s/valid? ::specs/addrinfo %) (sc/address-information "localhost" 80)))
  (is (s/valid? ::specs/msg-flags #{:msg/peek}))
  (is (not (s/valid? ::specs/msg-flags #{:msg/bogus})))
  (is (s/valid? ::specs/family :af/inet6))
  (is (not (s/valid? ::specs/family :af/bogus))))

(deftest instrumented-fdefs-check-arguments
  (specs/instrument)
  (try
    (is (thrown? clojure.lang.ExceptionInfo (sc/sockaddr->string {:family :af/inet :address 5 :port 1})))
    (is (= "127.0.0.1:1" (sc/sockaddr->string (sc/inet-address "127.0.0.1" 1))))
    (finally (specs/unstrument))))
