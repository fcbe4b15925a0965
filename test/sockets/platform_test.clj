(ns sockets.platform-test
  "sockets.platform: the platform probe, and datafy/nav on sockets."
  (:require [clojure.datafy :refer [datafy nav]]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.core :as s]
            [sockets.platform :as pl]
            [sockets.test-util :as tu]))

(set! *warn-on-reflection* true)

(use-fixtures :once tu/fd-fixture)

(defn- skip [reason]
  (println "SKIP" (str (-> (ns-name *ns*) str) ":") reason))

;; ------------------------------------------------------------------ platform, datafy

(deftest platform-data
  (let [pf (pl/platform)]
    (is (= (get-in sockets.constants/tables [:af :af/inet]) (get-in pf [:constants :af :af/inet])))
    (is (every? (comp integer? val) (mapcat val (:constants pf))))
    (is (contains? (get-in pf [:options [:af/inet :sock/stream]]) :tcp/nodelay))
    (is (not (contains? (get-in pf [:options [:af/unix :sock/stream]]) :tcp/nodelay)))
    (is (contains? #{:epoll :poll} (:event-loop pf)))
    (is (contains? (:control-messages pf) [:sol/socket :scm/rights]))))

(deftest datafy-connected-tcp
  (with-open [l (tu/listener)]
    (let [[c acc] (tu/connected-pair l)]
      (try
        (s/set-tcp-no-delay! c true)
        (let [d (datafy c)]
          (is (= (s/socket-name c) (:local-address d)))
          (is (= (s/socket-name l) (:peer-address d)))
          (is (= [:af/inet :sock/stream] [(:family d) (:type d)]))
          (is (= (s/socket-fileno c) (:fd d)))
          (is (true? (get-in d [:options :tcp/nodelay])))
          (if (:tcp-info d)
            (is (pos? (get-in d [:tcp-info :snd-mss])))
            (skip "no TCP_INFO on this platform"))
          (let [n (nav d :peer-address (:peer-address d))]
            (is (= (:peer-address d) (:address n)))
            (is (string? (:host n)))
            (is (= (:port (:peer-address d)) (:service n)))))
        (is (false? (get-in (datafy acc) [:options :tcp/nodelay])))
        (finally (s/socket-close c) (s/socket-close acc))))
    (let [closed (doto (s/socket :af/inet :sock/stream) s/socket-close)]
      (is (:closed? (datafy closed))))))

